package layerdelta

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"

	"github.com/opencontainers/go-digest"
)

// BaseOpener opens a base layer blob the receiver holds; it returns an error wrapping
// fs.ErrNotExist when the store lacks it.
type BaseOpener func(ctx context.Context, d digest.Digest) (io.ReadCloser, error)

// RebuildOptions tune [Rebuild].
type RebuildOptions struct {
	TempDir string // for the bases' uncompressed tars; "" = os.TempDir()
	Limits  Limits
	// LoadFirst names what the user should load when a base is missing (the base
	// bundle's file name); it goes into [MissingBaseError].
	LoadFirst string
	// Expect, if set, checks the recipe's head (that it rebuilds the layer the caller
	// expects, from bases the caller allows) before any base is read.
	Expect func(*Meta) error
}

// MissingBaseError is returned when a recipe needs a base layer the store lacks.
type MissingBaseError struct {
	Layer     digest.Digest // the missing base layer
	Target    digest.Digest // the layer the recipe rebuilds
	LoadFirst string
}

func (e *MissingBaseError) Error() string {
	first := e.LoadFirst
	if first == "" {
		first = "the bundle that carries it"
	}
	return fmt.Sprintf("layer %s is shipped as a recipe over base layer %s, which the store lacks: load %s first", e.Target, e.Layer, first)
}

// ErrMismatch is wrapped when rebuilt bytes do not hash to what the recipe claims.
var ErrMismatch = errors.New("rebuilt layer does not match its digest")

// Rebuild reads a recipe blob from recipe, rebuilds the layer it describes from base
// layers opened with open, and writes the compressed blob to out. It checks the rebuilt
// tar's diff ID and size, then the blob's digest and size; on any error the bytes
// written to out must be discarded (nothing may be committed). It returns the recipe's
// head. The recipe blob's own digest is the caller's to check (a bundle lists it like any
// blob). Disk: each base's uncompressed tar, at most the size the recipe declares and
// verified against its diff ID, in TempDir while Rebuild runs.
func Rebuild(ctx context.Context, recipe io.Reader, open BaseOpener, out io.Writer, opts RebuildOptions) (*Meta, error) {
	rd, err := NewReader(recipe, opts.Limits)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	m := &rd.Meta
	if opts.Expect != nil {
		if err := opts.Expect(m); err != nil {
			return m, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
	}
	tmp, err := os.MkdirTemp(opts.TempDir, "imgx-rebuild-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	// Every base is opened first (a missing one is named before any work), then all are
	// decompressed in the background while the rebuild reads what is already there.
	// Closed last: the decompressing goroutines read them until they stop.
	var rcs []io.ReadCloser
	defer func() {
		for _, rc := range rcs {
			rc.Close()
		}
	}()
	bases := make([]*growingFile, 0, len(m.Bases))
	bctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
		for _, g := range bases {
			g.Close()
		}
	}()
	for _, b := range m.Bases {
		rc, err := open(ctx, b.Digest)
		if errors.Is(err, fs.ErrNotExist) {
			return m, &MissingBaseError{Layer: b.Digest, Target: m.Target.Digest, LoadFirst: opts.LoadFirst}
		}
		if err != nil {
			return m, fmt.Errorf("base layer %s: %w", b.Digest, err)
		}
		rcs = append(rcs, rc)
	}
	for i, b := range m.Bases {
		g, err := newGrowingFile(tmp, "base-*.tar")
		if err != nil {
			return m, err
		}
		bases = append(bases, g)
		wg.Add(1)
		go func() {
			defer wg.Done()
			inflateInto(bctx, g, rcs[i], Layer{Digest: b.Digest}, b.TarSize, func(got Layer) error {
				if got.TarSize != b.TarSize || got.DiffID != b.DiffID {
					return fmt.Errorf("%w: base layer %s uncompresses to %s (%d bytes), recipe says %s (%d bytes)",
						ErrMismatch, b.Digest, got.DiffID, got.TarSize, b.DiffID, b.TarSize)
				}
				return nil
			})
		}()
	}

	blobHash := sha256.New()
	blobCount := &countWriter{}
	// The deflate writers write a few hundred bytes at a time; out is often a pipe to the
	// store, where each write is a hand-over between goroutines.
	bw := bufio.NewWriterSize(io.MultiWriter(out, blobHash, blobCount), 256<<10)
	zw, err := m.Params.NewWriter(bw)
	if err != nil {
		return m, err
	}
	diffHash := sha256.New()
	tarOut := io.MultiWriter(zw, diffHash)
	// A failed operation whose cause is a base that does not match the recipe's head is
	// reported as that mismatch (the root cause), once the bases finished checking.
	if err := copyOps(ctx, rd, bases, tarOut, m); err != nil {
		if ctx.Err() == nil && !errors.Is(err, ErrMismatch) {
			for _, g := range bases {
				if berr := g.wait(); errors.Is(berr, ErrMismatch) {
					return m, berr
				}
			}
		}
		return m, err
	}
	if err := zw.Close(); err != nil {
		return m, fmt.Errorf("rebuilding layer %s: %w", m.Target.Digest, err)
	}
	if err := bw.Flush(); err != nil {
		return m, fmt.Errorf("rebuilding layer %s: %w", m.Target.Digest, err)
	}
	// Each base must have verified in full (a recipe that copies only a prefix of a wrong
	// base is still refused as such).
	for _, g := range bases {
		if err := g.wait(); err != nil {
			return m, err
		}
	}
	if got := digest.NewDigestFromBytes(digest.SHA256, diffHash.Sum(nil)); got != m.Target.DiffID {
		return m, fmt.Errorf("%w: layer %s: rebuilt tar has diff ID %s, recipe says %s", ErrMismatch, m.Target.Digest, got, m.Target.DiffID)
	}
	got := digest.NewDigestFromBytes(digest.SHA256, blobHash.Sum(nil))
	if got != m.Target.Digest || blobCount.n != m.Target.Size {
		return m, fmt.Errorf("%w: layer %s: recompressed with %s gives %s (%d bytes), want %d bytes",
			ErrMismatch, m.Target.Digest, m.Params, got, blobCount.n, m.Target.Size)
	}
	return m, nil
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// copyOps writes the tar the recipe's operations describe to out.
func copyOps(ctx context.Context, rd *Reader, bases []*growingFile, out io.Writer, m *Meta) error {
	buf := make([]byte, 256<<10)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		op, err := rd.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		var src io.Reader = rd
		if op.Copy {
			src = io.NewSectionReader(bases[op.Base], op.Offset, op.N)
		}
		n, err := io.CopyBuffer(out, io.LimitReader(src, op.N), buf)
		if err != nil {
			return fmt.Errorf("rebuilding layer %s: %w", m.Target.Digest, err)
		}
		if n != op.N {
			return malformed("operation yielded %d of %d bytes", n, op.N)
		}
	}
}
