package layerdelta

import (
	"bufio"
	"bytes"
	stdgzip "compress/gzip"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	kgzip "github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"

	pgzip125 "github.com/imgx/imgx/layerdelta/internal/kc11512/pgzip"
	zstd115 "github.com/imgx/imgx/layerdelta/internal/kc11512/zstd"
)

// Compressor names accepted in a recipe.
const (
	CompNone         = "none"           // the layer is an uncompressed tar
	CompGoGzip       = "go-gzip"        // Go's compress/gzip (docker, buildkit, containerd)
	CompKlauspostGz  = "klauspost-gzip" // github.com/klauspost/compress/gzip
	CompKlauspostZst = "klauspost-zstd" // github.com/klauspost/compress/zstd stream encoder
	CompPgzip        = "pgzip"          // github.com/klauspost/pgzip (containers/image: podman, skopeo, buildah; umoci)
	// The versions Debian 12's umoci and skopeo are built with (compress v1.15.12, pgzip
	// v1.2.5), carried in internal/kc11512: their output differs from today's library.
	CompPgzip125        = "pgzip-1.2.5"
	CompKlauspostZst115 = "klauspost-zstd-1.15.12"
)

// Params are the compressor parameters that turn a layer's uncompressed tar into its
// blob. They travel in the recipe; the receiver accepts only what [Params.Validate]
// allows, so a forged parameter cannot select arbitrary code paths or huge windows.
type Params struct {
	Compressor string `json:"compressor"`
	Level      int    `json:"level,omitempty"`
	// gzip header fields (both gzip writers); zero values are what builders write.
	Name    string `json:"name,omitempty"`
	Comment string `json:"comment,omitempty"`
	ModTime int64  `json:"modTime,omitempty"` // Unix seconds, 0 = unset
	OS      *byte  `json:"os,omitempty"`      // nil = the writer's default (255)
	// zstd options that change the bytes written.
	CRC         bool `json:"crc,omitempty"`
	Concurrency int  `json:"concurrency,omitempty"`
	// pgzip compresses independent blocks of this size (its output depends on it).
	BlockSize int `json:"blockSize,omitempty"`
}

func (p Params) String() string {
	switch p.Compressor {
	case CompKlauspostZst, CompKlauspostZst115:
		return fmt.Sprintf("%s level %d crc=%v concurrency=%d", p.Compressor, p.Level, p.CRC, p.Concurrency)
	case CompNone:
		return p.Compressor
	case CompPgzip, CompPgzip125:
		return fmt.Sprintf("%s level %d block %d", p.Compressor, p.Level, p.BlockSize)
	}
	return fmt.Sprintf("%s level %d", p.Compressor, p.Level)
}

var (
	gzipLevels = []int{-1, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	// zstdLevels are klauspost's EncoderLevel values: fastest, default, better, best.
	zstdLevels      = []int{int(zstd.SpeedFastest), int(zstd.SpeedDefault), int(zstd.SpeedBetterCompression), int(zstd.SpeedBestCompression)}
	zstdConcurrency = []int{1, 2, 4, 8, 16}
	// pgzip's default (containers/image), umoci's 256 KiB, and two others seen.
	pgzipBlockSizes = []int{1 << 20, 256 << 10, 512 << 10, 250000}
)

// ErrParams is wrapped by every refusal of compressor parameters.
var ErrParams = errors.New("compressor parameters not allowed")

// Validate accepts only the allow-listed compressors and their levels and options.
func (p Params) Validate() error {
	bad := func(why string) error { return fmt.Errorf("%w: %s: %s", ErrParams, p.Compressor, why) }
	gzipHeaderSet := p.Name != "" || p.Comment != "" || p.ModTime != 0 || p.OS != nil
	zstdSet := p.CRC || p.Concurrency != 0
	switch p.Compressor {
	case CompNone:
		if p.Level != 0 || gzipHeaderSet || zstdSet || p.BlockSize != 0 {
			return bad("takes no options")
		}
	case CompGoGzip, CompKlauspostGz, CompPgzip, CompPgzip125:
		if !slices.Contains(gzipLevels, p.Level) {
			return bad(fmt.Sprintf("level %d", p.Level))
		}
		if isPgzip(p.Compressor) != (p.BlockSize != 0) {
			return bad(fmt.Sprintf("block size %d", p.BlockSize))
		}
		if p.BlockSize != 0 && !slices.Contains(pgzipBlockSizes, p.BlockSize) {
			return bad(fmt.Sprintf("block size %d", p.BlockSize))
		}
		if zstdSet {
			return bad("zstd options on a gzip compressor")
		}
		if len(p.Name) > 256 || len(p.Comment) > 256 {
			return bad("gzip header name or comment longer than 256 bytes")
		}
	case CompKlauspostZst, CompKlauspostZst115:
		if !slices.Contains(zstdLevels, p.Level) {
			return bad(fmt.Sprintf("level %d", p.Level))
		}
		if !slices.Contains(zstdConcurrency, p.Concurrency) {
			return bad(fmt.Sprintf("concurrency %d", p.Concurrency))
		}
		if gzipHeaderSet || p.BlockSize != 0 {
			return bad("gzip options on zstd")
		}
	default:
		return fmt.Errorf("%w: unknown compressor %q", ErrParams, p.Compressor)
	}
	return nil
}

// NewWriter returns a compressor writing to w with these parameters; Close flushes it
// (and does not close w).
func (p Params) NewWriter(w io.Writer) (io.WriteCloser, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	switch p.Compressor {
	case CompNone:
		return nopCloser{w}, nil
	case CompGoGzip:
		z, err := stdgzip.NewWriterLevel(w, p.Level)
		if err != nil {
			return nil, err
		}
		p.setGzipHeader(&z.Name, &z.Comment, &z.ModTime, &z.OS)
		return z, nil
	case CompKlauspostGz:
		z, err := kgzip.NewWriterLevel(w, p.Level)
		if err != nil {
			return nil, err
		}
		p.setGzipHeader(&z.Name, &z.Comment, &z.ModTime, &z.OS)
		return z, nil
	case CompPgzip:
		z, err := pgzip.NewWriterLevel(w, p.Level)
		if err != nil {
			return nil, err
		}
		// The number of blocks in flight changes speed, not bytes.
		if err := z.SetConcurrency(p.BlockSize, 2); err != nil {
			return nil, err
		}
		p.setGzipHeader(&z.Name, &z.Comment, &z.ModTime, &z.OS)
		return z, nil
	case CompPgzip125:
		z, err := pgzip125.NewWriterLevel(w, p.Level)
		if err != nil {
			return nil, err
		}
		if err := z.SetConcurrency(p.BlockSize, 2); err != nil {
			return nil, err
		}
		p.setGzipHeader(&z.Name, &z.Comment, &z.ModTime, &z.OS)
		return z, nil
	case CompKlauspostZst115:
		return zstd115.NewWriter(w, zstd115.WithEncoderLevel(zstd115.EncoderLevel(p.Level)),
			zstd115.WithEncoderCRC(p.CRC), zstd115.WithEncoderConcurrency(p.Concurrency))
	default: // CompKlauspostZst, validated above
		return zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.EncoderLevel(p.Level)),
			zstd.WithEncoderCRC(p.CRC), zstd.WithEncoderConcurrency(p.Concurrency))
	}
}

func isPgzip(c string) bool { return c == CompPgzip || c == CompPgzip125 }

// setGzipHeader sets the header fields the parameters record, on any of the gzip
// writers (their Header types are distinct but have the same fields).
func (p Params) setGzipHeader(name, comment *string, modTime *time.Time, os *byte) {
	*name, *comment = p.Name, p.Comment
	if p.ModTime != 0 {
		*modTime = time.Unix(p.ModTime, 0)
	}
	if p.OS != nil {
		*os = *p.OS
	}
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// Candidates lists the parameters [Reproduce] tries for a blob that starts with head
// (its first bytes), most likely first: the defaults of docker, buildkit and containerd
// (Go gzip), then of containers/image (pgzip, klauspost zstd) and umoci (pgzip with 256
// KiB blocks), at today's library versions and at those Debian 12 builds with.
func Candidates(head []byte) []Params {
	switch {
	case len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		hdr := gzipHeader(head)
		// Every gzip writer here sets the header's XFL byte from the level as Go's does:
		// 2 for level 9, 4 for level 1, 0 otherwise; that rules most levels out. (6 is
		// the default, -1, in all of them.)
		levels := []int{-1, 2, 3, 4, 5, 7, 8}
		if len(head) >= 9 {
			switch head[8] {
			case 2:
				levels = []int{9}
			case 4:
				levels = []int{1}
			}
		}
		var out []Params
		add := func(comp string, level, block int) {
			p := hdr
			p.Compressor, p.Level, p.BlockSize = comp, level, block
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
		// The defaults first, then every level of each writer.
		add(CompGoGzip, levels[0], 0)
		add(CompPgzip125, levels[0], 1<<20)
		add(CompPgzip125, levels[0], 256<<10)
		add(CompPgzip, levels[0], 1<<20)
		add(CompKlauspostGz, levels[0], 0)
		for _, l := range levels {
			add(CompGoGzip, l, 0)
			add(CompKlauspostGz, l, 0)
			for _, comp := range []string{CompPgzip, CompPgzip125} {
				for _, bs := range pgzipBlockSizes {
					add(comp, l, bs)
				}
			}
		}
		return out
	case len(head) >= 4 && bytes.Equal(head[:4], []byte{0x28, 0xb5, 0x2f, 0xfd}):
		var out []Params
		for _, l := range []int{int(zstd.SpeedDefault), int(zstd.SpeedFastest), int(zstd.SpeedBetterCompression), int(zstd.SpeedBestCompression)} {
			// Concurrency changes speed, not bytes (checked by
			// TestReproduceKnownCompressors with 4): one candidate per level and CRC.
			for _, crc := range []bool{true, false} {
				for _, comp := range []string{CompKlauspostZst, CompKlauspostZst115} {
					out = append(out, Params{Compressor: comp, Level: l, CRC: crc, Concurrency: 1})
				}
			}
		}
		return out
	default:
		return []Params{{Compressor: CompNone}}
	}
}

// gzipHeader reads the header fields of a gzip member so the candidates write the same
// header; it returns zero Params when the header is not parseable (the candidates then
// simply fail to match).
func gzipHeader(head []byte) Params {
	zr, err := stdgzip.NewReader(bytes.NewReader(head))
	if err != nil {
		return Params{}
	}
	var p Params
	p.Name, p.Comment = zr.Name, zr.Comment
	if !zr.ModTime.IsZero() {
		p.ModTime = zr.ModTime.Unix()
	}
	if zr.OS != 255 {
		os := zr.OS
		p.OS = &os
	}
	return p
}

// errMismatch stops a candidate at the first byte that differs from the original.
var errMismatch = errors.New("compressed bytes differ")

// compareWriter compares what a candidate writes with the original blob, read ahead in
// large pieces: the deflate writers write a few hundred bytes at a time, and one pread
// per write cost more than the comparison.
type compareWriter struct {
	orig *bufio.Reader
	off  int64
	buf  []byte
}

func newCompareWriter(orig io.ReaderAt, size int64) *compareWriter {
	return &compareWriter{orig: bufio.NewReaderSize(io.NewSectionReader(orig, 0, size), 1<<20)}
}

func (c *compareWriter) Write(p []byte) (int, error) {
	if cap(c.buf) < len(p) {
		c.buf = make([]byte, len(p))
	}
	b := c.buf[:len(p)]
	n, err := io.ReadFull(c.orig, b)
	if n < len(p) || !bytes.Equal(b[:n], p) {
		if err == nil || err == io.EOF || err == io.ErrUnexpectedEOF {
			return 0, errMismatch
		}
		return 0, err
	}
	c.off += int64(n)
	return len(p), nil
}

// Reproduce finds parameters that compress the uncompressed stream (opened afresh for
// each candidate by open) into exactly the blob of blobSize bytes read from orig. A
// candidate stops at the first differing byte, so a wrong guess costs one compressed
// block, not the layer. It returns an error wrapping [ErrNotReproducible] when no
// candidate matches.
func Reproduce(orig io.ReaderAt, blobSize int64, open func() (io.ReadCloser, error)) (Params, error) {
	head := make([]byte, 512)
	n, _ := orig.ReadAt(head, 0)
	head = head[:n]
	return reproduceFrom(Candidates(head), orig, blobSize, open)
}

func reproduceFrom(cands []Params, orig io.ReaderAt, blobSize int64, open func() (io.ReadCloser, error)) (Params, error) {
	var tried []string
	for _, p := range cands {
		ok, err := tryParams(p, orig, blobSize, open)
		if err != nil {
			return Params{}, err
		}
		if ok {
			return p, nil
		}
		tried = append(tried, p.String())
	}
	return Params{}, fmt.Errorf("%w (tried %d candidates)", ErrNotReproducible, len(tried))
}

// ErrNotReproducible means no allow-listed compressor rebuilds the blob exactly.
var ErrNotReproducible = errors.New("no known compressor reproduces the layer blob")

func tryParams(p Params, orig io.ReaderAt, blobSize int64, open func() (io.ReadCloser, error)) (bool, error) {
	src, err := open()
	if err != nil {
		return false, fmt.Errorf("open uncompressed layer: %w", err)
	}
	defer src.Close()
	cw := newCompareWriter(orig, blobSize)
	zw, err := p.NewWriter(cw)
	if err != nil {
		return false, err
	}
	_, err = io.Copy(zw, src)
	if err == nil {
		err = zw.Close()
	} else {
		_ = zw.Close()
	}
	if errors.Is(err, errMismatch) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reproduce with %s: %w", p, err)
	}
	return cw.off == blobSize, nil
}
