package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"hash"
	"io"
	"sync"

	"github.com/opencontainers/go-digest"
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// hashCopy copies r to w, hashing with sha256. With size >= 0 it reads at most size+1
// bytes, so a lying producer is caught without reading on forever. When w is a real
// writer, hashing runs in a second goroutine on the chunk being written, so a load costs
// about max(hash, write) per chunk instead of their sum.
func hashCopy(ctx context.Context, w io.Writer, r io.Reader, size int64) (int64, digest.Digest, error) {
	h := sha256.New()
	if size >= 0 {
		r = io.LimitReader(r, size+1)
	}
	if w == io.Discard {
		return hashOnly(ctx, h, r)
	}
	bp := [2]*[]byte{bufPool.Get().(*[]byte), bufPool.Get().(*[]byte)}
	todo := make(chan []byte)
	hashed := make(chan struct{})
	go func() {
		for b := range todo {
			h.Write(b)
			hashed <- struct{}{}
		}
	}()
	pending := false // the hasher holds a buffer
	defer func() {
		if pending {
			<-hashed
		}
		close(todo)
		bufPool.Put(bp[0])
		bufPool.Put(bp[1])
	}()
	var n int64
	for i := 0; ; {
		if err := ctx.Err(); err != nil {
			return n, "", err
		}
		// buf is never the buffer the hasher holds: i flips only after a buffer was
		// handed over, so an empty read (io.Pipe passes on empty writes) cannot reuse it.
		buf := *bp[i]
		m, rerr := r.Read(buf)
		if m > 0 {
			if pending {
				<-hashed
			}
			todo <- buf[:m]
			pending = true
			i ^= 1
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
	if pending {
		<-hashed
		pending = false
	}
	return n, digest.NewDigest(digest.SHA256, h), nil
}

func hashOnly(ctx context.Context, h hash.Hash, r io.Reader) (int64, digest.Digest, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, "", err
		}
		m, rerr := r.Read(buf)
		h.Write(buf[:m])
		n += int64(m)
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return n, "", rerr
		}
	}
	return n, digest.NewDigest(digest.SHA256, h), nil
}
