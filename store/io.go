package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"sync"

	"github.com/opencontainers/go-digest"
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
