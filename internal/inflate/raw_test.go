package inflate

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
)

func litLens(n int, f func(s int) uint8) []uint8 {
	l := make([]uint8, n)
	for s := range l {
		l[s] = f(s)
	}
	return l
}

// completeLit is a complete literal/length code over 286 symbols: 226 of length 8 and
// 60 of length 9 (226/256 + 60/512 = 1).
var completeLit = litLens(286, func(s int) uint8 {
	if s < 226 {
		return 8
	}
	return 9
})

// TestRawBlocks decodes hand-made DEFLATE streams, each checked against compress/flate
// (same output, same success or failure) and against the expected result.
func TestRawBlocks(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	window := make([]byte, 32768)
	for i := range window {
		window[i] = byte(rng.Uint32())
	}
	type tc struct {
		name string
		raw  func() []byte
		ok   bool
	}
	var tests []tc
	add := func(name string, ok bool, f func(w *bitWriter)) {
		tests = append(tests, tc{name, func() []byte { var w bitWriter; f(&w); return w.bytes() }, ok})
	}
	add("empty stored final block", true, func(w *bitWriter) { w.stored(true, nil) })
	add("empty fixed final block", true, func(w *bitWriter) { w.bits(1, 1); w.bits(1, 2); w.fixedLit(256) })
	add("stored then fixed", true, func(w *bitWriter) {
		w.stored(false, []byte("stored bytes"))
		w.bits(1, 1)
		w.bits(1, 2)
		w.fixedLit('x')
		w.fixedMatch(10, 13)
		w.fixedLit(256)
	})
	add("stored length complement wrong", false, func(w *bitWriter) {
		w.bits(1, 3)
		w.align()
		w.buf = append(w.buf, 5, 0, 0xfa, 0xfe, 1, 2, 3, 4, 5)
	})
	add("reserved block type", false, func(w *bitWriter) { w.bits(1, 1); w.bits(3, 2) })
	add("max distance 32768", true, func(w *bitWriter) {
		w.stored(false, window)
		w.bits(1, 1)
		w.bits(1, 2)
		w.fixedMatch(258, 32768)
		w.fixedMatch(3, 32768)
		w.fixedLit(256)
	})
	add("distance one past the output", false, func(w *bitWriter) {
		w.stored(false, window[:32767])
		w.bits(1, 1)
		w.bits(1, 2)
		w.fixedMatch(3, 32768)
		w.fixedLit(256)
	})
	add("distance before any output", false, func(w *bitWriter) { w.bits(1, 1); w.bits(1, 2); w.fixedMatch(3, 1); w.fixedLit(256) })
	add("fixed distance code 30", false, func(w *bitWriter) {
		w.bits(1, 1)
		w.bits(1, 2)
		w.fixedLit('a')
		w.fixedLit(257)
		w.code(30, 5)
		w.fixedLit(256)
	})
	add("fixed literal/length code 286", false, func(w *bitWriter) { w.bits(1, 1); w.bits(1, 2); w.fixedLit('a'); w.fixedLit(286) })
	add("fixed literal/length code 287", false, func(w *bitWriter) { w.bits(1, 1); w.bits(1, 2); w.fixedLit('a'); w.fixedLit(287) })
	add("no final block", false, func(w *bitWriter) { w.stored(false, []byte("abc")) })
	for d := 1; d <= 9; d++ {
		for _, length := range []int{3, 4, 7, 8, 9, 15, 16, 17, 31, 64, 65, 200, 258} {
			add("overlap", true, func(w *bitWriter) {
				w.bits(1, 1)
				w.bits(1, 2)
				for i := range d {
					w.fixedLit('a' + i)
				}
				for range 300 { // long enough for the fast loop
					w.fixedMatch(length, d)
					w.fixedLit('z')
				}
				w.fixedLit(256)
			})
		}
	}
	// Dynamic blocks: the Huffman codes compress/flate accepts and rejects.
	dist := func(lens ...uint8) []uint8 { return lens }
	body := func(w *bitWriter, lit, dst []uint8) {
		lc, dc := canon(lit), canon(dst)
		w.code(lc['h'], uint(lit['h']))
		w.code(lc['i'], uint(lit['i']))
		s, e, n := lenSym(5)
		w.code(lc[s], uint(lit[s]))
		w.bits(e, n)
		w.code(dc[0], uint(dst[0])) // distance 1
		w.code(lc[256], uint(lit[256]))
	}
	dyn := func(name string, ok bool, lit, dst []uint8) {
		add("dynamic "+name, ok, func(w *bitWriter) { w.dynHeader(true, lit, dst); body(w, lit, dst) })
	}
	dyn("complete codes", true, completeLit, dist(1, 1))
	dyn("single distance code of length 1", true, completeLit, dist(1))
	dyn("single distance code of length 2", false, completeLit, dist(2))
	dyn("incomplete distance code", false, completeLit, dist(1, 2))
	dyn("over-subscribed distance code", false, completeLit, dist(1, 1, 1))
	dyn("over-subscribed literal code", false, litLens(286, func(int) uint8 { return 8 }), dist(1, 1))
	dyn("incomplete literal code", false, litLens(286, func(s int) uint8 {
		if s < 200 {
			return 8
		}
		return 9
	}), dist(1, 1))
	dyn("distance codes 30 and 31 used", false, completeLit, litLens(30, func(s int) uint8 { return 5 })[:30])
	add("dynamic empty distance code, no match", true, func(w *bitWriter) {
		w.dynHeader(true, completeLit, dist(0))
		lc := canon(completeLit)
		w.code(lc['o'], 8)
		w.code(lc['k'], 8)
		w.code(lc[256], uint(completeLit[256]))
	})
	add("dynamic empty distance code, match", false, func(w *bitWriter) {
		w.dynHeader(true, completeLit, dist(0))
		lc := canon(completeLit)
		w.code(lc['o'], 8)
		w.code(lc[257], uint(completeLit[257]))
		w.bits(0, 5)
		w.code(lc[256], uint(completeLit[256]))
	})
	add("dynamic single literal code, used", true, func(w *bitWriter) {
		// not a valid literal/length code for compress/flate unless ... it is: one code of length 1
		lit := make([]uint8, 257)
		lit[256] = 1
		w.dynHeader(true, lit, dist(1))
		w.code(0, 1)
	})
	add("dynamic single literal code, unused bit pattern", false, func(w *bitWriter) {
		lit := make([]uint8, 257)
		lit[256] = 1
		w.dynHeader(true, lit, dist(1))
		w.code(1, 1)
	})
	add("dynamic 287 literal codes", false, func(w *bitWriter) { w.dynHeader(true, append(bytes.Clone(completeLit), 0), dist(1, 1)) })
	add("dynamic 31 distance codes", false, func(w *bitWriter) { w.dynHeader(true, completeLit, make([]uint8, 31)) })
	add("code length repeat first", false, func(w *bitWriter) {
		w.bits(1, 1)
		w.bits(2, 2)
		w.bits(0, 5)
		w.bits(0, 5)
		w.bits(19-4, 4)
		cl := map[uint8]uint8{16: 1, 0: 1} // canonical: 0 -> '0', 16 -> '1'
		for _, s := range clOrder {
			w.bits(uint64(cl[s]), 3)
		}
		w.code(1, 1) // repeat the previous length, with none before
		w.bits(0, 2)
	})
	add("code length code over-subscribed", false, func(w *bitWriter) {
		w.bits(1, 1)
		w.bits(2, 2)
		w.bits(0, 10)
		w.bits(19-4, 4)
		for range 19 {
			w.bits(1, 3)
		}
	})
	add("code length code empty", false, func(w *bitWriter) {
		w.bits(1, 1)
		w.bits(2, 2)
		w.bits(0, 10)
		w.bits(0, 4)
		w.bits(0, 12)
	})
	add("code lengths repeat past the end", false, func(w *bitWriter) {
		// code-length code: 16, 17, 18 and 0..15 minus 15: give 18 a code
		w.bits(1, 1)
		w.bits(2, 2)
		w.bits(0, 5)
		w.bits(0, 5)
		w.bits(19-4, 4)
		// lengths in clOrder: 16,17,18,0,8,7,9,6,10,5,11,4,12,3,13,2,14,1,15
		cl := map[uint8]uint8{18: 1, 0: 1}
		for _, s := range clOrder {
			w.bits(uint64(cl[s]), 3)
		}
		// canonical: sym 0 -> '0', sym 18 -> '1'
		for range 3 {
			w.code(1, 1)
			w.bits(127, 7) // 138 zeros each: 414 > 258
		}
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := tt.raw()
			err := sameAsFlate(t, raw)
			if (err == nil) != tt.ok {
				t.Fatalf("err %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("err %v is neither ErrCorrupt nor io.ErrUnexpectedEOF", err)
			}
			// the same through a reader returning one byte at a time
			got, err1 := io.ReadAll(NewRawReader(iotest.OneByteReader(bytes.NewReader(raw))))
			want, _ := rawResult(raw)
			if (err1 == nil) != (err == nil) || (err == nil && !bytes.Equal(got, want)) {
				t.Fatalf("one byte at a time: %d bytes, %v; whole: %d bytes, %v", len(got), err1, len(want), err)
			}
		})
	}
}

// TestLongCodes builds a dynamic block whose literal code has 15-bit codes (subtables in
// both tables) and checks every symbol decodes.
func TestLongCodes(t *testing.T) {
	// Literal/length lengths: a complete code with lengths 1..15 (Kraft: 1/2 + 1/4 + ... + 2/2^15).
	lit := make([]uint8, 286)
	for s := range lit {
		lit[s] = 0
	}
	// symbols: 'a'..: lengths 1,2,...,14,15,15
	syms := []int{'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 256, 'm', 257, 'o', 258}
	for i, s := range syms {
		l := i + 1
		if l > 15 {
			l = 15
		}
		lit[s] = uint8(l)
	}
	dst := make([]uint8, 30)
	for i := range 16 {
		dst[i] = uint8(min(i+1, 15))
	}
	var w bitWriter
	w.dynHeader(true, lit, dst)
	lc, dc := canon(lit), canon(dst)
	var want []byte
	for rep := range 50 {
		for _, s := range syms {
			if s < 256 {
				w.code(lc[s], uint(lit[s]))
				want = append(want, byte(s))
			}
		}
		for _, s := range []int{257, 258} {
			w.code(lc[s], uint(lit[s]))
			length := s - 254
			d := 1 + rep%4 // distance symbols 0..3 have no extra bits
			w.code(dc[d-1], uint(dst[d-1]))
			for range length {
				want = append(want, want[len(want)-d])
			}
		}
		// distance symbol 15 (193..256, 6 extra bits), 15 bits long
		if len(want) > 256 {
			w.code(lc[257], uint(lit[257]))
			w.code(dc[15], uint(dst[15]))
			w.bits(63, 6)
			for range 3 {
				want = append(want, want[len(want)-256])
			}
		}
	}
	w.code(lc[256], uint(lit[256]))
	raw := w.bytes()
	if err := sameAsFlate(t, raw); err != nil {
		t.Fatal(err)
	}
	got, _ := rawResult(raw)
	if !bytes.Equal(got, want) {
		t.Fatalf("output differs")
	}
}
