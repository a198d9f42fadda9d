package digestio

import (
	"io"

	"github.com/opencontainers/go-digest"
)

// HashingWriter passes writes to an underlying writer (nil: discard) and
// records the digest and number of the bytes it accepted.
type HashingWriter struct {
	w io.Writer
	d digest.Digester
	n int64
}

// NewHashingWriter hashes with alg; the empty algorithm means sha256.
// It panics if alg is not available, which is a programming error.
func NewHashingWriter(w io.Writer, alg digest.Algorithm) *HashingWriter {
	if alg == "" {
		alg = digest.Canonical
	}
	if w == nil {
		w = io.Discard
	}
	return &HashingWriter{w: w, d: alg.Digester()}
}

// Write hashes only the bytes the underlying writer accepted.
func (h *HashingWriter) Write(p []byte) (int, error) {
	n, err := h.w.Write(p)
	h.d.Hash().Write(p[:n])
	h.n += int64(n)
	return n, err
}

// Digest is the digest of everything written so far.
func (h *HashingWriter) Digest() digest.Digest { return h.d.Digest() }

// Size is the number of bytes written so far.
func (h *HashingWriter) Size() int64 { return h.n }

// HashingReader records the digest and size of everything read through it.
type HashingReader struct {
	r io.Reader
	d digest.Digester
	n int64
}

// NewHashingReader hashes with alg; the empty algorithm means sha256.
func NewHashingReader(r io.Reader, alg digest.Algorithm) *HashingReader {
	if alg == "" {
		alg = digest.Canonical
	}
	return &HashingReader{r: r, d: alg.Digester()}
}

func (h *HashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.d.Hash().Write(p[:n])
	h.n += int64(n)
	return n, err
}

// Digest is the digest of everything read so far.
func (h *HashingReader) Digest() digest.Digest { return h.d.Digest() }

// Size is the number of bytes read so far.
func (h *HashingReader) Size() int64 { return h.n }
