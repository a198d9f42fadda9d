package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// hashCopy copies r to w, hashing with sha256. With size >= 0 it reads at most size+1
// bytes, so a lying producer is caught without reading on forever.
func hashCopy(ctx context.Context, w io.Writer, r io.Reader, size int64) (int64, digest.Digest, error) {
	h := sha256.New()
	if size >= 0 {
		r = io.LimitReader(r, size+1)
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, "", err
		}
		m, rerr := r.Read(buf)
		if m > 0 {
			h.Write(buf[:m])
			if _, err := w.Write(buf[:m]); err != nil {
				return n, "", err
			}
			n += int64(m)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return n, "", rerr
		}
	}
	return n, digest.NewDigest(digest.SHA256, h), nil
}

// verifyReader checks size and digest of a blob as it is read.
type verifyReader struct {
	rc   io.ReadCloser
	desc ocispec.Descriptor
	v    digest.Verifier
	n    int64
}

func newVerifyReader(rc io.ReadCloser, desc ocispec.Descriptor) io.ReadCloser {
	return &verifyReader{rc: rc, desc: desc, v: desc.Digest.Verifier()}
}

func (r *verifyReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	r.n += int64(n)
	r.v.Write(p[:n])
	if r.n > r.desc.Size {
		return n, fmt.Errorf("blob %s: %w: more than %d bytes", r.desc.Digest, ErrSizeMismatch, r.desc.Size)
	}
	if err == io.EOF {
		if r.n != r.desc.Size {
			return n, fmt.Errorf("blob %s: %w: %d bytes, want %d", r.desc.Digest, ErrSizeMismatch, r.n, r.desc.Size)
		}
		if !r.v.Verified() {
			return n, fmt.Errorf("blob %s: %w", r.desc.Digest, ErrDigestMismatch)
		}
	}
	return n, err
}

func (r *verifyReader) Close() error { return r.rc.Close() }
