package archive

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/imgx/imgx/internal/compress"
	"github.com/imgx/imgx/progress"
	"github.com/imgx/imgx/ref"
	"github.com/imgx/imgx/store"
)

// LoadOptions tune [Load] and [LoadDir]. The zero value is ready to use.
type LoadOptions struct {
	// Progress counts input bytes read (for a directory: bytes of the files staged).
	Progress progress.Progress
	// MaxRatio bounds how much the archive may expand: once more than RatioFloor bytes
	// came out of the decompressor (tar headers and padding count like entry contents),
	// they may be at most MaxRatio times the bytes read from the input. It stops
	// decompression bombs. Default 250 (gzip cannot exceed about 1030).
	MaxRatio int64
	// RatioFloor is the decompressed size below which MaxRatio is not applied. Default 1 GiB.
	RatioFloor int64
	// MaxSize, if positive, caps the decompressed bytes read, headers included.
	MaxSize int64
	// Tag, if set, names the archive's one untagged image in the load's commit; an
	// archive without exactly one is refused (store.ErrTagTarget) and nothing is added.
	Tag ref.Ref
}

// Result describes a successful load.
type Result struct {
	Format      Format        `json:"format"`
	Compression compress.Kind `json:"compression"`
	Images      []Loaded      `json:"images"`
	// BytesWritten counts blob bytes written to the store; blobs it already had are
	// verified but not written again.
	BytesWritten int64 `json:"bytesWritten"`
	// BlobsReused counts blobs an earlier, interrupted load had verified and left staged.
	BlobsReused int `json:"blobsReused,omitempty"`
	// Notes explain choices made on the way (an incomplete index, a bare-tag ref.name).
	Notes []string `json:"notes,omitempty"`
}

// Load reads a docker-archive or oci-archive stream (possibly gzip, zstd, xz or bzip2
// compressed as a whole) in one pass and adds its images to s. Nothing becomes visible in
// s unless the whole archive was read and checked; on error no image, tag or blob becomes
// visible, and the blobs that verified stay staged for a re-run to reuse
// (Result.BlobsReused; prune removes them). Errors name the archive entry at fault.
func Load(ctx context.Context, s *store.Store, r io.Reader, opts LoadOptions) (_ *Result, err error) {
	raw := &progress.CountReader{R: progress.Reader(r, opts.Progress)}
	br := bufio.NewReaderSize(raw, 1<<20)
	zr, kind, err := compress.NewReader(br, compress.Options{})
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	g := newGuard(raw, zr, opts)

	tx, err := s.Begin(ctx)
	if err != nil {
		return nil, err
	}
	// On failure the files staged so far stay staged: each hashed to the digest it is
	// staged under, so the re-run reuses them. Not when the input turned out not to be an
	// image archive at all (a plain tar of files): nothing would reuse those. No-op after
	// Commit.
	defer func() {
		if errors.Is(err, ErrUnknownFormat) {
			tx.Discard()
		} else {
			tx.Suspend()
		}
	}()
	tr := tar.NewReader(g) // all the tar reader reads, headers included, passes the guard
	src, err := collect(ctx, tx, &tarGuard{tr: tr, g: g})
	if err != nil {
		if g.entries == 0 && (errors.Is(err, tar.ErrHeader) || errors.Is(err, io.ErrUnexpectedEOF)) {
			return nil, fmt.Errorf("%w: input is not a tar archive (compression: %s)", ErrUnknownFormat, kind)
		}
		return nil, err
	}
	// The tar reader takes a stream that stops between two entries for the end of the
	// archive. Without the end-of-archive marker (zero blocks) it is a cut-off stream
	// (head -c, a dropped link), whatever the entries read so far make of it.
	if g.eof && g.entries > 0 && g.zeros < 512 {
		return nil, fmt.Errorf("read archive after %d entries: %w", g.entries, truncated(fmt.Errorf("no end-of-archive marker: %w", io.ErrUnexpectedEOF)))
	}
	// Read what follows the end-of-archive marker: the writer's padding, and for a
	// compressed stream the trailer whose checksum the decoder verifies at EOF.
	if _, err := io.Copy(io.Discard, io.LimitReader(zr, 16<<20)); err != nil {
		return nil, fmt.Errorf("after the last entry: %w", truncated(err))
	}
	res, err := finish(ctx, tx, src, opts)
	if err != nil {
		return nil, err
	}
	res.Compression = kind
	return res, nil
}

// LoadDir adds the images of an OCI image layout directory, or of an unpacked
// docker-archive, to s. Only the files the metadata refers to are read.
func LoadDir(ctx context.Context, s *store.Store, dir string, opts LoadOptions) (*Result, error) {
	if _, err := DetectDir(dir); err != nil {
		return nil, err
	}
	tx, err := s.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Suspend() // as in Load: verified blobs stay staged for the re-run
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	src := &dirSource{root: root, tx: tx, staged: map[string]blobInfo{}, p: progress.OrNoop(opts.Progress)}
	res, err := finish(ctx, tx, src, opts)
	if err != nil {
		return nil, err
	}
	res.Compression = compress.None
	return res, nil
}

// LoadPath loads a file (see [Load]), a directory (see [LoadDir]), or standard input
// when path is "-" and stdin is given.
func LoadPath(ctx context.Context, s *store.Store, path string, stdin io.Reader, opts LoadOptions) (*Result, error) {
	if path == "-" {
		return Load(ctx, s, stdin, opts)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return LoadDir(ctx, s, path, opts)
	}
	f, err := os.Open(filepath.Clean(path))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if opts.Progress != nil {
		opts.Progress.SetTotal(fi.Size())
	}
	return Load(ctx, s, f, opts)
}

func finish(ctx context.Context, tx *store.Tx, src source, opts LoadOptions) (*Result, error) {
	b := newBuilder(src, tx)
	if err := b.build(ctx); err != nil {
		return nil, err
	}
	if !opts.Tag.IsZero() {
		if err := b.nameUntagged(opts.Tag); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	return &Result{Format: b.format, Images: b.loaded, BytesWritten: tx.BytesWritten(), BlobsReused: tx.Reused(), Notes: b.notes}, nil
}

// guard bounds what comes out of the decompressor (headers, padding and contents
// alike) against the bytes read in, and the part of it that is not entry content.
type guard struct {
	raw               *progress.CountReader
	r                 io.Reader // the decompressed stream
	out               int64     // bytes read from r
	meta              int64     // of which outside entry contents
	inContent         bool      // a tarGuard.Read is under way
	zeros             int       // zero bytes that ended the metadata read so far
	eof               bool      // the stream ended where a header was expected
	ratio, floor, max int64
	entries           int
}

func newGuard(raw *progress.CountReader, r io.Reader, o LoadOptions) *guard {
	g := &guard{raw: raw, r: r, ratio: o.MaxRatio, floor: o.RatioFloor, max: o.MaxSize}
	if g.ratio <= 0 {
		g.ratio = 250
	}
	if g.floor <= 0 {
		g.floor = 1 << 30
	}
	return g
}

// Read is what the tar reader reads from.
func (g *guard) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	if g.inContent {
		if n > 0 {
			g.zeros = 0
		}
	} else {
		for _, c := range p[:n] {
			if c != 0 {
				g.zeros = 0
			} else {
				g.zeros++
			}
		}
		if err == io.EOF {
			g.eof = true
		}
	}
	if gerr := g.add(n); gerr != nil {
		return n, gerr
	}
	return n, err
}

func (g *guard) add(n int) error {
	g.out += int64(n)
	if !g.inContent {
		// Header blocks, PAX and GNU long-name records, padding, skipped data. The tar
		// reader reads a chain of PAX headers in one Next, which collect's count of the
		// records it returns does not see, so the raw bytes are bounded here too.
		g.meta += int64(n)
		if lim := maxRawHeaderBytes + 1024*int64(g.entries+2); g.meta > lim {
			return fmt.Errorf("%w: %d bytes of tar headers and padding for %d entries: more than the limit of %d", ErrTooLarge, g.meta, g.entries, lim)
		}
	}
	if g.max > 0 && g.out > g.max {
		return fmt.Errorf("%w: content exceeds the limit of %d bytes (decompressed, headers included)", ErrTooLarge, g.max)
	}
	if g.out > g.floor && g.out > g.ratio*g.raw.N {
		return fmt.Errorf("%w: %d bytes decompressed from %d bytes of input: expands more than %d times (a decompression bomb?)", ErrTooLarge, g.out, g.raw.N, g.ratio)
	}
	return nil
}

// tarGuard is a tar reader that tells the guard which reads are entry contents.
type tarGuard struct {
	tr *tar.Reader
	g  *guard
}

func (t *tarGuard) Next() (*tar.Header, error) {
	h, err := t.tr.Next()
	if err == nil {
		t.g.entries++
	}
	return h, err
}

func (t *tarGuard) Read(p []byte) (int, error) {
	t.g.inContent = true
	n, err := t.tr.Read(p)
	t.g.inContent = false
	return n, err
}
