package layerdelta

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

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

	bases := make([]*os.File, len(m.Bases))
	defer func() {
		for _, f := range bases {
			if f != nil {
				f.Close()
			}
		}
	}()
	for i, b := range m.Bases {
		f, err := materializeBase(ctx, open, b, m.Target.Digest, tmp, opts.LoadFirst)
		if err != nil {
			return m, err
		}
		bases[i] = f
	}

	blobHash := sha256.New()
	blobCount := &countWriter{}
	zw, err := m.Params.NewWriter(io.MultiWriter(out, blobHash, blobCount))
	if err != nil {
		return m, err
	}
	diffHash := sha256.New()
	tarOut := io.MultiWriter(zw, diffHash)
	buf := make([]byte, 256<<10)
	for {
		if err := ctx.Err(); err != nil {
			return m, err
		}
		op, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return m, err
		}
		var src io.Reader = rd
		if op.Copy {
			src = io.NewSectionReader(bases[op.Base], op.Offset, op.N)
		}
		n, err := io.CopyBuffer(tarOut, io.LimitReader(src, op.N), buf)
		if err != nil {
			return m, fmt.Errorf("rebuilding layer %s: %w", m.Target.Digest, err)
		}
		if n != op.N {
			return m, malformed("operation yielded %d of %d bytes", n, op.N)
		}
	}
	if err := zw.Close(); err != nil {
		return m, fmt.Errorf("rebuilding layer %s: %w", m.Target.Digest, err)
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

// materializeBase decompresses a base layer into dir, checking it is the layer the
// recipe names (diff ID and size), and returns it open for random reads.
func materializeBase(ctx context.Context, open BaseOpener, b Layer, target digest.Digest, dir, loadFirst string) (*os.File, error) {
	rc, err := open(ctx, b.Digest)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &MissingBaseError{Layer: b.Digest, Target: target, LoadFirst: loadFirst}
	}
	if err != nil {
		return nil, fmt.Errorf("base layer %s: %w", b.Digest, err)
	}
	defer rc.Close()
	dr, closeFn, err := decompress(rc)
	if err != nil {
		return nil, fmt.Errorf("base layer %s: %w", b.Digest, err)
	}
	defer closeFn()
	f, err := os.CreateTemp(dir, "base-*.tar")
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	// One byte more than claimed tells a longer base from an exact one.
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(ctxReader{ctx, dr}, b.TarSize+1))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("base layer %s: decompress: %w", b.Digest, err)
	}
	if got := digest.NewDigestFromBytes(digest.SHA256, h.Sum(nil)); n != b.TarSize || got != b.DiffID {
		f.Close()
		return nil, fmt.Errorf("%w: base layer %s uncompresses to %s (%d bytes), recipe says %s (%d bytes)",
			ErrMismatch, b.Digest, got, n, b.DiffID, b.TarSize)
	}
	return f, nil
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }
