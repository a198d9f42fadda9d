package inflate

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"io"
	"math/bits"
	"testing"
)

// bitWriter writes a DEFLATE bit stream, LSB first.
type bitWriter struct {
	buf []byte
	acc uint64
	n   uint
}

func (w *bitWriter) bits(v uint64, n uint) {
	w.acc |= v << w.n
	w.n += n
	for w.n >= 8 {
		w.buf = append(w.buf, byte(w.acc))
		w.acc >>= 8
		w.n -= 8
	}
}

// code writes a Huffman code (MSB first).
func (w *bitWriter) code(c uint16, n uint) {
	w.bits(uint64(bits.Reverse16(c)>>(16-n)), n)
}

func (w *bitWriter) align() {
	if w.n > 0 {
		w.bits(0, 8-w.n)
	}
}

func (w *bitWriter) bytes() []byte {
	w.align()
	return w.buf
}

// fixedLitCode writes the fixed-code symbol s (0..287).
func (w *bitWriter) fixedLit(s int) {
	switch {
	case s < 144:
		w.code(uint16(0x30+s), 8)
	case s < 256:
		w.code(uint16(0x190+s-144), 9)
	case s < 280:
		w.code(uint16(s-256), 7)
	default:
		w.code(uint16(0xc0+s-280), 8)
	}
}

// lenSym returns the length symbol of length (3..258) and its extra bits.
func lenSym(length int) (sym int, extra uint64, n uint) {
	for i := len(lengthBase) - 1; i >= 0; i-- {
		if int(lengthBase[i]) <= length {
			return 257 + i, uint64(length - int(lengthBase[i])), uint(lengthExtra[i])
		}
	}
	panic("bad length")
}

func distSym(dist int) (sym int, extra uint64, n uint) {
	for i := len(distBase) - 1; i >= 0; i-- {
		if int(distBase[i]) <= dist {
			return i, uint64(dist - int(distBase[i])), uint(distExtra[i])
		}
	}
	panic("bad distance")
}

// fixedMatch writes a length/distance pair in a fixed block.
func (w *bitWriter) fixedMatch(length, dist int) {
	s, e, n := lenSym(length)
	w.fixedLit(s)
	w.bits(e, n)
	ds, de, dn := distSym(dist)
	w.code(uint16(ds), 5)
	w.bits(de, dn)
}

// stored writes a stored block.
func (w *bitWriter) stored(final bool, data []byte) {
	w.bits(b2u(final), 1)
	w.bits(0, 2)
	w.align()
	n := len(data)
	w.buf = append(w.buf, byte(n), byte(n>>8), ^byte(n), ^byte(n>>8))
	w.buf = append(w.buf, data...)
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// canon returns the canonical Huffman codes of lens.
func canon(lens []uint8) []uint16 {
	var count [16]int
	for _, l := range lens {
		count[l]++
	}
	count[0] = 0
	var next [16]uint16
	code := uint16(0)
	for l := 1; l < 16; l++ {
		code = (code + uint16(count[l-1])) << 1
		if l == 1 {
			code = 0
		}
		next[l] = code
	}
	codes := make([]uint16, len(lens))
	for s, l := range lens {
		if l != 0 {
			codes[s] = next[l]
			next[l]++
		}
	}
	return codes
}

// dynHeader writes a dynamic block header with the given code lengths, coding every
// length with a code-length code giving 4 bits to each of 0..15 (no repeats).
func (w *bitWriter) dynHeader(final bool, lit, dist []uint8) {
	w.bits(b2u(final), 1)
	w.bits(2, 2)
	w.bits(uint64(len(lit)-257), 5)
	w.bits(uint64(len(dist)-1), 5)
	w.bits(19-4, 4)
	for _, s := range clOrder {
		if s < 16 {
			w.bits(4, 3)
		} else {
			w.bits(0, 3)
		}
	}
	for _, l := range append(append([]uint8{}, lit...), dist...) {
		w.code(uint16(l), 4)
	}
}

// flateResult decodes raw with compress/flate.
func flateResult(raw []byte) ([]byte, error) {
	return io.ReadAll(flate.NewReader(bytes.NewReader(raw)))
}

func gzipResult(gz []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

func rawResult(raw []byte) ([]byte, error) {
	return io.ReadAll(NewRawReader(bytes.NewReader(raw)))
}

func ourGzipResult(gz []byte) ([]byte, error) {
	zr, err := NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

// Tiny buffers: input buffer ends and output slides every few hundred bytes.
const tinyIn, tinyOut = 40, 600

// sameAsFlate checks that this package and compress/flate agree on raw: same output, and
// both succeed or both fail. On failure the outputs must be prefixes of each other. It
// returns the error of this package.
func sameAsFlate(t testing.TB, raw []byte) error {
	t.Helper()
	want, werr := flateResult(raw)
	got, gerr := rawResult(raw)
	compareResults(t, "compress/flate", want, werr, got, gerr)
	d := newReaderSize(bytes.NewReader(raw), tinyIn, tinyOut)
	d.state = stBlock
	got, terr := io.ReadAll(d)
	compareResults(t, "compress/flate (tiny buffers)", want, werr, got, terr)
	return gerr
}

func sameAsGzip(t testing.TB, gz []byte) error {
	t.Helper()
	want, werr := gzipResult(gz)
	got, gerr := ourGzipResult(gz)
	compareResults(t, "compress/gzip", want, werr, got, gerr)
	d := newReaderSize(bytes.NewReader(gz), tinyIn, tinyOut)
	d.gzip = true
	terr := d.header(true)
	got = nil
	if terr == nil {
		got, terr = io.ReadAll(d)
	}
	compareResults(t, "compress/gzip (tiny buffers)", want, werr, got, terr)
	return gerr
}

func compareResults(t testing.TB, ref string, want []byte, werr error, got []byte, gerr error) {
	t.Helper()
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("%s: err %v, inflate: err %v", ref, werr, gerr)
	}
	if werr == nil {
		if !bytes.Equal(got, want) {
			t.Fatalf("output differs from %s: %d bytes, want %d", ref, len(got), len(want))
		}
		return
	}
	short, long := got, want
	if len(short) > len(long) {
		short, long = long, short
	}
	if !bytes.Equal(short, long[:len(short)]) {
		t.Fatalf("outputs before the error are not prefixes of each other (%s %d bytes, inflate %d)", ref, len(want), len(got))
	}
}
