package inflate

import (
	"bytes"
	"compress/flate"
	"testing"
)

// fuzzSeeds are small valid streams of each block type, for the fuzzers to mutate.
func fuzzSeeds(t testing.TB) [][]byte {
	data := testData(t)
	var seeds [][]byte
	for _, n := range []int{0, 1, 50, 700, 5000} {
		for _, lvl := range []int{0, 1, 6, 9, flate.HuffmanOnly} {
			var b bytes.Buffer
			zw, _ := flate.NewWriter(&b, lvl)
			zw.Write(data[len(data)-n:]) // the end of testData: random, then periodic bytes
			zw.Write(bytes.Repeat([]byte("abcdabcd"), n/8))
			zw.Close()
			seeds = append(seeds, b.Bytes())
		}
	}
	var w bitWriter
	w.bits(1, 1)
	w.bits(1, 2)
	w.fixedLit('a')
	w.fixedMatch(20, 1)
	w.fixedLit(256)
	seeds = append(seeds, w.bytes())
	return seeds
}

// FuzzInflate decodes raw DEFLATE with this package and compress/flate: same output,
// and both succeed or both fail.
func FuzzInflate(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) > 64<<10 {
			return
		}
		sameAsFlate(t, raw)
	})
}

// FuzzGzip decodes gzip with this package and compress/gzip: same output, and both
// succeed or both fail.
func FuzzGzip(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(gz(f, s, 6))
	}
	f.Add(append(gz(f, []byte("one"), 6), gz(f, []byte("two"), 1)...))
	f.Fuzz(func(t *testing.T, z []byte) {
		if len(z) > 64<<10 {
			return
		}
		sameAsGzip(t, z)
	})
}
