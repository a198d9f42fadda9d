package layerdelta

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/opencontainers/go-digest"

	decomp "github.com/imgx/imgx/internal/compress"
)

// Input is a layer blob the sender holds.
type Input struct {
	Digest    digest.Digest
	Size      int64
	MediaType string
	Blob      io.ReaderAt // the compressed blob, Size bytes
}

// BuildOptions tune [Build].
type BuildOptions struct {
	TempDir string // for the uncompressed tars and candidate recipes; "" = os.TempDir()
	// Method forces "file" (whole file contents) or "cdc" (content-defined chunks of the
	// tar stream); "" computes both, and whole files then chunks of what is left
	// ("file+cdc"), and builds the one estimated smaller.
	Method string
}

// BuildResult describes the recipe [Build] wrote.
type BuildResult struct {
	Meta       Meta
	RecipeSize int64 // bytes written
	// Sizes of each candidate recipe (0 when not built), for measurements; FileSize is
	// the "file" or "file+cdc" one.
	FileSize, CDCSize int64
	// Estimated bytes of each method's recipe (literal bytes + 8 per operation; -1 when
	// not computed); the smaller is built.
	FileEstimate, CDCEstimate int64
	Params                    Params
}

// minFileMatch is the smallest file content worth a copy operation rather than literal
// bytes (an operation costs a few bytes; the literal compresses).
const minFileMatch = 128

// Build writes to w a recipe that rebuilds target from bases. It fails with an error
// wrapping [ErrNotReproducible] when no known compressor reproduces the target blob:
// the caller then ships the layer whole and reports why.
func Build(ctx context.Context, target Input, bases []Input, w io.Writer, opts BuildOptions) (*BuildResult, error) {
	if len(bases) == 0 || len(bases) > maxBases {
		return nil, fmt.Errorf("layer recipe for %s: %d base layers (want 1..%d)", target.Digest, len(bases), maxBases)
	}
	tmp, err := os.MkdirTemp(opts.TempDir, "imgx-layerdelta-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	// The target is decompressed once, into a growing file: the compressor candidates,
	// most likely first, compress it as it appears, on their own core, while this
	// goroutine decompresses and indexes the bases.
	tg, err := newGrowingFile(tmp, "layer-*.tar")
	if err != nil {
		return nil, err
	}
	defer tg.Close()
	tctx, cancel := context.WithCancel(ctx)
	go inflateInto(tctx, tg, io.NewSectionReader(target.Blob, 0, target.Size), Layer{Digest: target.Digest, Size: target.Size, MediaType: target.MediaType}, 0, nil)
	head := make([]byte, 512)
	hn, _ := target.Blob.ReadAt(head, 0)
	cands := Candidates(head[:hn])
	type trial struct {
		params Params
		err    error
	}
	first := make(chan trial, 1)
	go func() {
		// Each wrong candidate stops at its first differing block, usually within the
		// tar's first megabytes, so the search stays ahead of the decompression.
		p, err := reproduceFrom(cands, target.Blob, target.Size, func() (io.ReadCloser, error) {
			return io.NopCloser(ctxReader{tctx, tg.reader()}), nil
		})
		first <- trial{p, err}
	}()
	waitFirst := func() trial {
		t := <-first
		first <- t
		return t
	}
	defer func() { // both goroutines end before tg is closed
		cancel()
		waitFirst()
		_ = tg.wait()
	}()

	meta := Meta{}
	files := map[[32]byte]loc{}
	chunkIx := map[[32]byte]loc{}
	for i, b := range bases {
		if b.Digest == target.Digest {
			return nil, fmt.Errorf("layer %s: base %d is the target itself", target.Digest, i)
		}
		bf, bl, err := decompressTo(ctx, b, tmp)
		if err != nil {
			return nil, fmt.Errorf("base layer %s: %w", b.Digest, err)
		}
		meta.Bases = append(meta.Bases, bl)
		if opts.Method != "cdc" {
			// A base that is not a readable tar still serves chunks.
			_ = scanTar(bf, bl.TarSize, func(off, n int64, sum [32]byte) {
				if _, ok := files[sum]; !ok && n >= minFileMatch {
					files[sum] = loc{base: i, off: off, n: n}
				}
			})
		}
		if opts.Method != "file" {
			if err := chunks(io.NewSectionReader(bf, 0, bl.TarSize), func(off int64, n int, sum [32]byte) {
				if _, ok := chunkIx[sum]; !ok {
					chunkIx[sum] = loc{base: i, off: off, n: int64(n)}
				}
			}); err != nil {
				bf.Close()
				return nil, fmt.Errorf("base layer %s: %w", b.Digest, err)
			}
		}
		bf.Close()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	if err := tg.wait(); err != nil {
		return nil, err
	}
	tl := tg.layer
	tt := tg.f
	meta.Target = tl

	// Operations of both methods, while the trial may still run; only the recipe with
	// fewer estimated bytes is written (each literal byte costs about one, each operation
	// a few).
	var fops, cops []Op
	if opts.Method != "cdc" {
		ops, err := fileOps(tt, tl.TarSize, files)
		if err != nil && opts.Method == "file" {
			return nil, fmt.Errorf("layer %s: %w", target.Digest, err)
		}
		if err == nil {
			fops = ops
		}
	}
	fileMethod := "file"
	if opts.Method != "file" {
		ops, err := cdcOps(tt, tl.TarSize, chunkIx)
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", target.Digest, err)
		}
		cops = ops
		if fops != nil {
			// Whole files first, then chunks inside what is left: better than either
			// alone when most files are unchanged and the changed ones are upgrades.
			if ops, err := refine(tt, fops, chunkIx); err == nil && estimate(ops) < estimate(fops) {
				fops, fileMethod = ops, "file+cdc"
			}
		}
	}

	t := waitFirst()
	if t.err != nil {
		return nil, fmt.Errorf("layer %s: %w", target.Digest, t.err)
	}
	params := t.params
	meta.Params = params

	res := &BuildResult{Params: params}
	var best *os.File
	var bestMeta Meta
	var bestSize int64 = -1
	try := func(method string, ops []Op) error {
		f, err := os.CreateTemp(tmp, method+"-*.recipe")
		if err != nil {
			return err
		}
		m := meta
		m.Method = method
		m.Ops, m.Literal = 0, 0
		for _, o := range ops {
			m.Ops++
			if !o.Copy {
				m.Literal += o.N
			}
		}
		rw, err := NewWriter(f, m)
		if err != nil {
			f.Close()
			return err
		}
		for _, o := range ops {
			if o.Copy {
				rw.Copy(o.Base, o.Offset, o.N)
			} else if err := rw.Literal(io.NewSectionReader(tt, o.Offset, o.N), o.N); err != nil {
				f.Close()
				return err
			}
		}
		if err := rw.Close(); err != nil {
			f.Close()
			return err
		}
		size, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			f.Close()
			return err
		}
		if method != "cdc" {
			res.FileSize = size
		} else {
			res.CDCSize = size
		}
		if bestSize < 0 || size < bestSize {
			if best != nil {
				best.Close()
			}
			best, bestMeta, bestSize = f, m, size
		} else {
			f.Close()
		}
		return nil
	}
	res.FileEstimate, res.CDCEstimate = estimate(fops), estimate(cops)
	switch {
	case fops != nil && (cops == nil || res.FileEstimate <= res.CDCEstimate):
		if err := try(fileMethod, fops); err != nil {
			return nil, err
		}
	case cops != nil:
		if err := try("cdc", cops); err != nil {
			return nil, err
		}
	}
	if best == nil {
		return nil, fmt.Errorf("layer %s: no recipe built", target.Digest)
	}
	defer best.Close()
	if _, err := best.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	n, err := io.Copy(w, best)
	if err != nil {
		return nil, err
	}
	res.Meta, res.RecipeSize = bestMeta, n
	return res, nil
}

type loc struct {
	base   int
	off, n int64
}

// opList appends operations, merging neighbours: literal ranges of the target that
// touch, and copies that continue the previous copy in the same base.
type opList []Op

func (l *opList) add(o Op) {
	if o.N == 0 {
		return
	}
	if k := len(*l); k > 0 {
		p := &(*l)[k-1]
		if p.Copy == o.Copy && p.Base == o.Base && p.Offset+p.N == o.Offset {
			p.N += o.N
			return
		}
	}
	*l = append(*l, o)
}

// fileOps copies every regular file content found (by sha256) in a base and carries
// the rest: headers, padding, the end blocks and new contents.
func fileOps(tt *os.File, size int64, files map[[32]byte]loc) ([]Op, error) {
	var ops opList
	var pos int64
	err := scanTar(tt, size, func(off, n int64, sum [32]byte) {
		l, ok := files[sum]
		if !ok || l.n != n {
			return
		}
		ops.add(Op{Offset: pos, N: off - pos})
		ops.add(Op{Copy: true, Base: l.base, Offset: l.off, N: n})
		pos = off + n
	})
	if err != nil {
		return nil, err
	}
	ops.add(Op{Offset: pos, N: size - pos})
	return ops, nil
}

// cdcOps copies every content-defined chunk of the target found in a base.
func cdcOps(tt *os.File, size int64, ix map[[32]byte]loc) ([]Op, error) {
	return refine(tt, []Op{{Offset: 0, N: size}}, ix)
}

// refine copies the content-defined chunks found in a base inside the literal ranges of
// ops. After file matching, those ranges are the headers and the new contents, and a new
// content is often an earlier version's bytes moved about (an upgraded library).
func refine(tt *os.File, ops []Op, ix map[[32]byte]loc) ([]Op, error) {
	var out opList
	for _, o := range ops {
		if o.Copy || o.N < 2*cdcMin {
			out.add(o)
			continue
		}
		err := chunks(io.NewSectionReader(tt, o.Offset, o.N), func(off int64, n int, sum [32]byte) {
			if l, ok := ix[sum]; ok && l.n == int64(n) {
				out.add(Op{Copy: true, Base: l.base, Offset: l.off, N: l.n})
			} else {
				out.add(Op{Offset: o.Offset + off, N: int64(n)})
			}
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// countReader counts what archive/tar consumed, which gives each entry's content offset
// (archive/tar reads headers and data with ReadFull, without read-ahead).
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// scanTar calls fn with the offset, size and sha256 of each regular file's content in the
// tar of size bytes at f. Sparse files are skipped (their stored bytes are not their
// content); they stay literal.
func scanTar(f io.ReaderAt, size int64, fn func(off, n int64, sum [32]byte)) error {
	cr := &countReader{r: io.NewSectionReader(f, 0, size)}
	tr := tar.NewReader(cr)
	h := sha256.New()
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading tar at byte %d: %w", cr.n, err)
		}
		if hdr.Typeflag != tar.TypeReg || hdr.Size <= 0 || isSparse(hdr) {
			continue
		}
		start := cr.n
		h.Reset()
		if _, err := io.Copy(h, tr); err != nil {
			return fmt.Errorf("reading tar entry %q: %w", hdr.Name, err)
		}
		if cr.n != start+hdr.Size {
			return fmt.Errorf("tar entry %q: content not contiguous", hdr.Name)
		}
		var sum [32]byte
		h.Sum(sum[:0])
		fn(start, hdr.Size, sum)
	}
}

func isSparse(h *tar.Header) bool {
	for k := range h.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse") {
			return true
		}
	}
	return false
}

// decompressTo writes the uncompressed tar of in to a temporary file in dir and
// returns it open, with the layer's identity.
func decompressTo(ctx context.Context, in Input, dir string) (*os.File, Layer, error) {
	l := Layer{Digest: in.Digest, Size: in.Size, MediaType: in.MediaType}
	r, closeFn, err := decompress(io.NewSectionReader(in.Blob, 0, in.Size))
	if err != nil {
		return nil, l, err
	}
	defer closeFn()
	f, err := os.CreateTemp(dir, "layer-*.tar")
	if err != nil {
		return nil, l, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), ctxReader{ctx, r})
	if err != nil {
		f.Close()
		return nil, l, fmt.Errorf("decompress: %w", err)
	}
	l.DiffID = digest.NewDigestFromBytes(digest.SHA256, h.Sum(nil))
	l.TarSize = n
	return f, l, nil
}

// decompress returns the uncompressed stream of a layer blob (by magic number, through
// the one decompressor, internal/compress) and a function releasing the decoder.
func decompress(r io.Reader) (io.Reader, func(), error) {
	rc, _, err := decomp.NewReader(r, decomp.Options{})
	if err != nil {
		return nil, nil, err
	}
	return rc, func() { rc.Close() }, nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// estimate is the approximate size of a recipe of ops before compression; -1 for none.
func estimate(ops []Op) int64 {
	if ops == nil {
		return -1
	}
	var n int64
	for _, o := range ops {
		n += 8
		if !o.Copy {
			n += o.N
		}
	}
	return n
}
