package layerdelta

import (
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
)

// Compressor names accepted in a recipe.
const (
	CompNone         = "none"           // the layer is an uncompressed tar
	CompGoGzip       = "go-gzip"        // Go's compress/gzip (docker, buildkit, containerd)
	CompKlauspostGz  = "klauspost-gzip" // github.com/klauspost/compress/gzip
	CompKlauspostZst = "klauspost-zstd" // github.com/klauspost/compress/zstd stream encoder
	CompPgzip        = "pgzip"          // github.com/klauspost/pgzip (containers/image: podman, skopeo, buildah; umoci)
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
	case CompKlauspostZst:
		return fmt.Sprintf("%s level %d crc=%v concurrency=%d", p.Compressor, p.Level, p.CRC, p.Concurrency)
	case CompNone:
		return p.Compressor
	case CompPgzip:
		return fmt.Sprintf("%s level %d block %d", p.Compressor, p.Level, p.BlockSize)
	}
	return fmt.Sprintf("%s level %d", p.Compressor, p.Level)
}

var (
	gzipLevels = []int{-1, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	// zstdLevels are klauspost's EncoderLevel values: fastest, default, better, best.
	zstdLevels      = []int{int(zstd.SpeedFastest), int(zstd.SpeedDefault), int(zstd.SpeedBetterCompression), int(zstd.SpeedBestCompression)}
	zstdConcurrency = []int{1, 2, 4, 8, 16}
	pgzipBlockSizes = []int{1 << 20, 512 << 10, 250000}
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
	case CompGoGzip, CompKlauspostGz, CompPgzip:
		if !slices.Contains(gzipLevels, p.Level) {
			return bad(fmt.Sprintf("level %d", p.Level))
		}
		if (p.Compressor == CompPgzip) != (p.BlockSize != 0) {
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
	case CompKlauspostZst:
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
	default: // CompKlauspostZst, validated above
		return zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.EncoderLevel(p.Level)),
			zstd.WithEncoderCRC(p.CRC), zstd.WithEncoderConcurrency(p.Concurrency))
	}
}

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
// (its first bytes), most likely first: the defaults of docker, buildkit and containerd.
func Candidates(head []byte) []Params {
	switch {
	case len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		hdr := gzipHeader(head)
		var out []Params
		order := []int{-1, 9, 1, 2, 3, 4, 5, 7, 8} // 6 == -1 (default) in both writers
		for _, comp := range []string{CompGoGzip, CompKlauspostGz, CompPgzip} {
			for _, l := range order {
				p := hdr
				p.Compressor, p.Level = comp, l
				if comp == CompPgzip {
					for _, bs := range pgzipBlockSizes {
						p.BlockSize = bs
						out = append(out, p)
					}
					continue
				}
				out = append(out, p)
			}
		}
		return out
	case len(head) >= 4 && bytes.Equal(head[:4], []byte{0x28, 0xb5, 0x2f, 0xfd}):
		var out []Params
		for _, l := range []int{int(zstd.SpeedDefault), int(zstd.SpeedFastest), int(zstd.SpeedBetterCompression), int(zstd.SpeedBestCompression)} {
			// Concurrency changes speed, not bytes (checked by
			// TestReproduceKnownCompressors with 4): one candidate per level and CRC.
			for _, crc := range []bool{true, false} {
				out = append(out, Params{Compressor: CompKlauspostZst, Level: l, CRC: crc, Concurrency: 1})
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

// compareWriter compares what a candidate writes with the original blob.
type compareWriter struct {
	orig io.ReaderAt
	off  int64
	buf  []byte
}

func (c *compareWriter) Write(p []byte) (int, error) {
	if cap(c.buf) < len(p) {
		c.buf = make([]byte, len(p))
	}
	b := c.buf[:len(p)]
	n, err := c.orig.ReadAt(b, c.off)
	if n < len(p) || !bytes.Equal(b[:n], p) {
		if err == nil || err == io.EOF {
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
	cw := &compareWriter{orig: orig}
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
