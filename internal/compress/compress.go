// Package compress detects and removes whole-stream compression by magic bytes, the way
// docker load does, so every reader in imgx accepts plain, gzip, zstd, xz and bzip2 input alike.
package compress

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/imgx/imgx/internal/inflate"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Kind names a stream compression.
type Kind string

const (
	None  Kind = "none"
	Gzip  Kind = "gzip"
	Zstd  Kind = "zstd"
	Xz    Kind = "xz"
	Bzip2 Kind = "bzip2"
)

var magics = []struct {
	kind  Kind
	magic []byte
}{
	{Gzip, []byte{0x1f, 0x8b}},
	{Zstd, []byte{0x28, 0xb5, 0x2f, 0xfd}},
	{Xz, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}},
	{Bzip2, []byte{'B', 'Z', 'h'}},
}

// Detect peeks at the start of br and reports its compression. It consumes nothing.
func Detect(br *bufio.Reader) (Kind, error) {
	head, err := br.Peek(6)
	if err != nil && !errors.Is(err, io.EOF) {
		return None, err
	}
	for _, m := range magics {
		if bytes.HasPrefix(head, m.magic) {
			return m.kind, nil
		}
	}
	return None, nil
}

// ErrTooLarge is returned when decompressed data exceeds the limit given to
// [NewReader]: a guard against decompression bombs.
var ErrTooLarge = errors.New("decompressed data exceeds limit")

// MaxZstdWindow is the largest zstd window accepted. A frame declares its window and the
// decoder allocates and fills that much history, so a hostile 4 MB frame asking for
// 128 MiB costs 128 MiB. Every zstd level up to 19 (and Go's klauspost encoder at any
// level) uses at most 8 MiB; only `zstd --long` or `--ultra -20..22` go beyond 32 MiB.
const MaxZstdWindow = 1 << 25

// Options tune [NewReader].
type Options struct {
	// Limit caps the number of decompressed bytes; 0 means no limit.
	Limit int64
	// Frames decodes zstd frame by frame in a goroutine of its own, reading ahead (see
	// frames.go): for imgx bundles, whose frames are small and independent. Close must be
	// called to stop the goroutine.
	Frames bool
	// Context, with Frames, ends a Read waiting for the source when it is cancelled.
	Context context.Context
}

// Unbuffer returns a reader of what br has buffered, then of src, the reader br reads
// from: big reads then go straight to src instead of being copied through br's buffer.
// br must not be read from afterwards.
func Unbuffer(br *bufio.Reader, src io.Reader) io.Reader {
	head, _ := br.Peek(br.Buffered())
	return io.MultiReader(bytes.NewReader(head), src)
}

// NewReader returns a reader of the decompressed stream and the detected kind.
// Close releases decoder resources; it does not close r.
func NewReader(r io.Reader, opts Options) (io.ReadCloser, Kind, error) {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 1<<20)
	}
	kind, err := Detect(br)
	if err != nil {
		return nil, None, fmt.Errorf("detect compression: %w", err)
	}
	var rc io.ReadCloser
	switch {
	case kind == Zstd && opts.Frames:
		src := io.Reader(br)
		if !ok {
			src = Unbuffer(br, r) // through br, each block would be copied once more
		}
		rc = newFrameReader(opts.Context, src)
	case kind == Gzip:
		// internal/inflate, not klauspost/compress/gzip: it inflates real layers about
		// twice as fast, and its WriteTo hashes straight out of its output buffer.
		zr, err := inflate.NewReader(br)
		if err != nil {
			return nil, kind, fmt.Errorf("gzip: %w", err)
		}
		rc = zr
	case kind == Zstd:
		zr, err := newStreamDecoder(br)
		if err != nil {
			return nil, kind, fmt.Errorf("zstd: %w", err)
		}
		rc = zr
	case kind == Xz:
		zr, err := xz.NewReader(br)
		if err != nil {
			return nil, kind, fmt.Errorf("xz: %w", err)
		}
		rc = io.NopCloser(zr)
	case kind == Bzip2:
		rc = io.NopCloser(bzip2.NewReader(br))
	default:
		rc = io.NopCloser(br)
	}
	if opts.Limit > 0 {
		rc = &limitReader{rc: rc, left: opts.Limit}
	}
	return rc, kind, nil
}

// newStreamDecoder is klauspost's streaming zstd decoder as imgx sets it up: in the
// caller's goroutine, low memory, windows up to MaxZstdWindow.
func newStreamDecoder(r io.Reader) (zstdCloser, error) {
	zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(MaxZstdWindow))
	return zstdCloser{d: zr}, err
}

// zstdCloser is a zstd decoder that names the window limit. The decoder is not embedded,
// so that io.Copy cannot reach its WriteTo around Read.
type zstdCloser struct{ d *zstd.Decoder }

func (z zstdCloser) Read(p []byte) (int, error) {
	n, err := z.d.Read(p)
	if errors.Is(err, zstd.ErrWindowSizeExceeded) {
		err = fmt.Errorf("zstd: %w: the stream needs a window of more than %d MiB, the limit (made with zstd --long or --ultra? recompress without)", ErrTooLarge, MaxZstdWindow>>20)
	}
	return n, err
}

func (z zstdCloser) Close() error { z.d.Close(); return nil }

type limitReader struct {
	rc   io.ReadCloser
	left int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		// Distinguish "exactly at the limit" from "over it" by probing one byte.
		var one [1]byte
		n, err := l.rc.Read(one[:])
		if n > 0 {
			return 0, ErrTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.rc.Read(p)
	l.left -= int64(n)
	return n, err
}

func (l *limitReader) Close() error { return l.rc.Close() }
