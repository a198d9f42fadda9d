package digestio

import (
	_ "crypto/sha256" // register the algorithms go-digest knows about
	_ "crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// VerifyReader reads exactly size bytes from an underlying reader and checks
// their digest.
//
// Read never returns more than size bytes. When the data ends, Read returns
// io.EOF only if the digest matched; otherwise it returns the error (a
// *MismatchError, or ErrSizeMismatch wrapping io.ErrUnexpectedEOF), so a plain
// io.Copy already fails on bad data. Callers must still call Verify before
// trusting the data: only Verify checks that the source has no trailing data,
// which needs one extra read from the source.
type VerifyReader struct {
	r    io.Reader
	want digest.Digest
	size int64
	n    int64
	h    hash.Hash
	// err is sticky: io.EOF after a clean end, otherwise the failure.
	err      error
	verified bool
}

// NewVerifyReader returns a reader that passes through the size bytes of r
// and checks that they hash to want. An invalid want or a negative size
// makes the first Read fail with ErrInvalidDescriptor.
func NewVerifyReader(r io.Reader, want digest.Digest, size int64) *VerifyReader {
	v := &VerifyReader{r: r, want: want, size: size}
	switch err := want.Validate(); {
	case err != nil:
		v.err = fmt.Errorf("%w: digest %q: %w", ErrInvalidDescriptor, string(want), err)
	case size < 0:
		v.err = fmt.Errorf("%w: negative size %d", ErrInvalidDescriptor, size)
	default:
		v.h = want.Algorithm().Hash()
	}
	return v
}

// NewSizeReader returns a reader like NewVerifyReader's that checks only the size: for
// bytes whose digest another read of the same data checks (bundle.Verify's main pass over
// a layer that a worker reads again), so that they are not hashed twice.
func NewSizeReader(r io.Reader, size int64) *VerifyReader {
	v := &VerifyReader{r: r, size: size}
	if size < 0 {
		v.err = fmt.Errorf("%w: negative size %d", ErrInvalidDescriptor, size)
	}
	return v
}

// NewDescriptorReader is NewVerifyReader for an OCI descriptor.
func NewDescriptorReader(r io.Reader, desc ocispec.Descriptor) *VerifyReader {
	return NewVerifyReader(r, desc.Digest, desc.Size)
}

// Read implements io.Reader; see the type comment for the end-of-data rules.
func (v *VerifyReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	remaining := v.size - v.n
	if remaining == 0 {
		v.finish()
		return 0, v.err
	}
	if int64(len(p)) > remaining {
		p = p[:remaining]
	}
	n, err := v.r.Read(p)
	if v.h != nil {
		v.h.Write(p[:n])
	}
	v.n += int64(n)
	switch {
	case v.n == v.size:
		v.finish()
		if v.err != io.EOF {
			return n, v.err
		}
		// Report io.EOF on the next call: callers handle (n, nil) best.
		return n, nil
	case err == io.EOF:
		v.err = fmt.Errorf("%w: read %d of %d bytes: %w", ErrSizeMismatch, v.n, v.size, io.ErrUnexpectedEOF)
		return n, v.err
	case err != nil:
		// A source error (network, disk) passes through untouched so that
		// callers can classify it, e.g. as retryable.
		v.err = err
		return n, err
	}
	return n, nil
}

// finish is called once all size bytes have been hashed.
func (v *VerifyReader) finish() {
	if v.h == nil { // NewSizeReader
		v.err = io.EOF
		return
	}
	got := digest.NewDigest(v.want.Algorithm(), v.h)
	if got != v.want {
		v.err = &MismatchError{Want: v.want, Got: got}
		return
	}
	v.err = io.EOF
}

// Verify reports whether the data read was exactly size bytes with the
// expected digest. It reads one more byte from the source to detect trailing
// data, so the source must end where the blob ends (a tar entry, a file, an
// HTTP body, an io.LimitReader). Verify is idempotent.
func (v *VerifyReader) Verify() error {
	if v.verified {
		return nil
	}
	if v.err == nil && v.n == v.size {
		v.finish() // size 0, or data read up to size without a final Read
	}
	switch {
	case v.err == nil:
		return fmt.Errorf("%w: read %d of %d bytes", ErrNotFinished, v.n, v.size)
	case v.err != io.EOF:
		return v.err
	}
	if err := ensureEOF(v.r); err != nil {
		if errors.Is(err, ErrTrailingData) {
			err = fmt.Errorf("%w: more than %d bytes: %w", ErrSizeMismatch, v.size, err)
		} else {
			err = fmt.Errorf("check for trailing data: %w", err)
		}
		v.err = err
		return err
	}
	v.verified = true
	return nil
}

// ensureEOF returns nil if r is at its end, ErrTrailingData if it yields a byte.
func ensureEOF(r io.Reader) error {
	var b [1]byte
	// A Reader may return (0, nil); give it a few chances, as io.ReadAtLeast
	// would, before calling it a failure.
	for range 100 {
		n, err := r.Read(b[:])
		if n > 0 {
			return ErrTrailingData
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

// Copy copies a blob of the given digest and size from src to dst and
// verifies it, trailing-data check included. On error dst may hold a prefix
// of the data: write to a temporary name and rename only after success.
func Copy(dst io.Writer, src io.Reader, want digest.Digest, size int64) (int64, error) {
	v := NewVerifyReader(src, want, size)
	// Hide dst's ReadFrom so that every byte goes through v.Read; a 256 KiB
	// buffer keeps syscall overhead small next to hashing.
	n, err := io.CopyBuffer(struct{ io.Writer }{dst}, v, make([]byte, 256<<10))
	if err != nil {
		return n, err
	}
	return n, v.Verify()
}
