package layerdelta

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/opencontainers/go-digest"
)

// growingFile is a temporary file that one goroutine fills (a layer being decompressed)
// while others already read what is written: the compressor trial and the rebuild start
// on the first bytes instead of waiting for the whole tar, so the decompression of one
// layer and the compression of another run on two cores at once.
type growingFile struct {
	f    *os.File
	mu   sync.Mutex
	cond *sync.Cond
	n    int64 // bytes written so far
	done bool
	err  error // with done: why the writer stopped early, nil when the tar is complete
	// Set by the writer when done without error.
	layer Layer
}

func newGrowingFile(dir, pattern string) (*growingFile, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	g := &growingFile{f: f}
	g.cond = sync.NewCond(&g.mu)
	return g, nil
}

func (g *growingFile) Write(p []byte) (int, error) {
	n, err := g.f.Write(p)
	g.mu.Lock()
	g.n += int64(n)
	g.mu.Unlock()
	g.cond.Broadcast()
	return n, err
}

// finish marks the file complete (err nil) or failed; readers waiting wake up.
func (g *growingFile) finish(err error) {
	g.mu.Lock()
	g.done, g.err = true, err
	g.mu.Unlock()
	g.cond.Broadcast()
}

// wait blocks until the writer finished and returns its error.
func (g *growingFile) wait() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	for !g.done {
		g.cond.Wait()
	}
	return g.err
}

// ReadAt waits until [off, off+len(p)) is written or the writer finished; a failed writer's
// error is returned to every reader, so nothing downstream uses a base that did not verify.
func (g *growingFile) ReadAt(p []byte, off int64) (int, error) {
	end := off + int64(len(p))
	g.mu.Lock()
	for g.n < end && !g.done {
		g.cond.Wait()
	}
	n, err := g.n, g.err
	g.mu.Unlock()
	if err != nil {
		return 0, err
	}
	if n < end {
		if off >= n {
			return 0, io.EOF
		}
		k, rerr := g.f.ReadAt(p[:n-off], off)
		if rerr == nil {
			rerr = io.EOF
		}
		return k, rerr
	}
	return g.f.ReadAt(p, off)
}

// reader reads the file from the start as it grows, to its end once finished.
func (g *growingFile) reader() io.Reader { return &growingReader{g: g} }

type growingReader struct {
	g   *growingFile
	off int64
}

func (r *growingReader) Read(p []byte) (int, error) {
	n, err := r.g.ReadAt(p, r.off)
	r.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (g *growingFile) Close() error { return g.f.Close() }

// inflateInto decompresses blob into g and records the layer's diff ID and tar size; it
// reads at most limit bytes of tar (0 = no limit) plus one, to tell a longer tar. check,
// if not nil, judges the result before readers may take the last bytes as good. It
// always finishes g.
func inflateInto(ctx context.Context, g *growingFile, blob io.Reader, l Layer, limit int64, check func(Layer) error) {
	err := func() error {
		r, closeFn, err := decompress(blob)
		if err != nil {
			return fmt.Errorf("layer %s: %w", l.Digest, err)
		}
		defer closeFn()
		var src io.Reader = ctxReader{ctx, r}
		if limit > 0 {
			src = io.LimitReader(src, limit+1)
		}
		h := sha256.New()
		n, err := io.CopyBuffer(io.MultiWriter(g, h), src, make([]byte, 256<<10))
		if err != nil {
			return fmt.Errorf("layer %s: decompress: %w", l.Digest, err)
		}
		l.DiffID = digest.NewDigestFromBytes(digest.SHA256, h.Sum(nil))
		l.TarSize = n
		g.layer = l
		if check != nil {
			return check(l)
		}
		return nil
	}()
	g.finish(err)
}
