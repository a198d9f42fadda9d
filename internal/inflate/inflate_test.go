package inflate

import (
	"bytes"
	stdgzip "compress/gzip"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"testing/iotest"

	kgzip "github.com/klauspost/compress/gzip"
	"github.com/klauspost/pgzip"
)

// testData is a mix of what layers hold: a real binary, text, runs, short-period
// repeats (distances 1..8) and random bytes.
func testData(t testing.TB) []byte {
	t.Helper()
	var b bytes.Buffer
	if exe, err := os.ReadFile("/bin/sh"); err == nil {
		b.Write(exe[:min(len(exe), 400<<10)])
	}
	for i := range 3000 {
		b.WriteString("the quick brown fox jumps over the lazy dog ")
		b.WriteByte(byte('0' + i%10))
	}
	b.Write(bytes.Repeat([]byte{0}, 70000))
	for p := 1; p <= 9; p++ {
		for i := range 1000 + p {
			b.WriteByte(byte(i % p))
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 100 << 10 {
		b.WriteByte(byte(rng.Uint32()))
	}
	return b.Bytes()
}

func gz(t testing.TB, data []byte, level int) []byte {
	t.Helper()
	var b bytes.Buffer
	zw, err := stdgzip.NewWriterLevel(&b, level)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestRoundTrip(t *testing.T) {
	data := testData(t)
	type enc struct {
		name string
		gz   func() ([]byte, error)
	}
	encs := []enc{
		{"stdlib-1", func() ([]byte, error) { return gz(t, data, 1), nil }},
		{"stdlib-6", func() ([]byte, error) { return gz(t, data, 6), nil }},
		{"stdlib-9", func() ([]byte, error) { return gz(t, data, 9), nil }},
		{"stdlib-huffman-only", func() ([]byte, error) { return gz(t, data, stdgzip.HuffmanOnly), nil }},
		{"stdlib-stored", func() ([]byte, error) { return gz(t, data, stdgzip.NoCompression), nil }},
		{"klauspost", func() ([]byte, error) {
			var b bytes.Buffer
			zw := kgzip.NewWriter(&b)
			zw.Write(data)
			err := zw.Close()
			return b.Bytes(), err
		}},
		{"klauspost-1", func() ([]byte, error) {
			var b bytes.Buffer
			zw, _ := kgzip.NewWriterLevel(&b, 1)
			zw.Write(data)
			err := zw.Close()
			return b.Bytes(), err
		}},
		{"pgzip", func() ([]byte, error) {
			var b bytes.Buffer
			zw := pgzip.NewWriter(&b)
			zw.SetConcurrency(64<<10, 4)
			zw.Write(data)
			err := zw.Close()
			return b.Bytes(), err
		}},
	}
	for _, lvl := range []string{"-1", "-9"} {
		encs = append(encs, enc{"gnu-gzip" + lvl, func() ([]byte, error) {
			cmd := exec.Command("gzip", "-c", lvl)
			cmd.Stdin = bytes.NewReader(data)
			return cmd.Output()
		}})
	}
	for _, e := range encs {
		t.Run(e.name, func(t *testing.T) {
			z, err := e.gz()
			if err != nil {
				t.Fatalf("compress: %v", err)
			}
			readers := map[string]func([]byte) io.Reader{
				"whole":    func(b []byte) io.Reader { return bytes.NewReader(b) },
				"one-byte": func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) },
				"half":     func(b []byte) io.Reader { return iotest.HalfReader(bytes.NewReader(b)) },
				"data-err": func(b []byte) io.Reader { return iotest.DataErrReader(bytes.NewReader(b)) },
			}
			for name, mk := range readers {
				zr, err := NewReader(mk(z))
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				got, err := io.ReadAll(zr)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if !bytes.Equal(got, data) {
					t.Fatalf("%s: output differs (%d bytes, want %d)", name, len(got), len(data))
				}
			}
			// Tiny input and output buffers: every buffer end, slide and refill path.
			td := newReaderSize(bytes.NewReader(z), tinyIn, tinyOut)
			td.gzip = true
			if err := td.header(true); err != nil {
				t.Fatal(err)
			}
			if got, err := io.ReadAll(td); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("tiny buffers: %d bytes, %v", len(got), err)
			}
			// Tiny Read buffers.
			zr, err := NewReader(bytes.NewReader(z))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(iotest.OneByteReader(zr))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("1-byte reads: %d bytes, %v", len(got), err)
			}
		})
	}
}

// TestWriteTo checks that io.Copy takes WriteTo and that it writes what Read returns.
func TestWriteTo(t *testing.T) {
	data := testData(t)
	zr, err := NewReader(bytes.NewReader(gz(t, data, 6)))
	if err != nil {
		t.Fatal(err)
	}
	var w writerOnly
	n, err := io.Copy(&w, zr)
	if err != nil || n != int64(len(data)) || !bytes.Equal(w.Bytes(), data) {
		t.Fatalf("WriteTo: %d bytes, %v", n, err)
	}
	if w.writes > len(data)/(64<<10)+2 {
		t.Errorf("%d writes for %d bytes: WriteTo should hand out large chunks", w.writes, len(data))
	}
}

type writerOnly struct {
	bytes.Buffer
	writes int
}

func (w *writerOnly) Write(p []byte) (int, error) { w.writes++; return w.Buffer.Write(p) }

func TestGzipFraming(t *testing.T) {
	data := []byte("hello, hello, hello, gzip framing")
	plain := gz(t, data, 6)
	withHeader := func(h stdgzip.Header) []byte {
		var b bytes.Buffer
		zw := stdgzip.NewWriter(&b)
		zw.Header = h
		zw.Write(data)
		zw.Close()
		return b.Bytes()
	}
	// hand-made header with every flag, FHCRC right or wrong
	flags := func(goodHCRC bool) []byte {
		h := []byte{0x1f, 0x8b, 8, 0x04 | 0x08 | 0x10 | 0x02, 0, 0, 0, 0, 0, 255}
		h = append(h, 3, 0, 'a', 'b', 'c')
		h = append(h, "name\x00comment\x00"...)
		c := crc32.ChecksumIEEE(h)
		if !goodHCRC {
			c++
		}
		h = append(h, byte(c), byte(c>>8))
		return append(h, plain[10:]...)
	}
	corruptAt := func(i int) []byte {
		b := bytes.Clone(plain)
		b[len(b)+i] ^= 1
		return b
	}
	empty := gz(t, nil, 6)
	tests := []struct {
		name string
		in   []byte
		want []byte
		err  error
	}{
		{"plain", plain, data, nil},
		{"name comment extra", withHeader(stdgzip.Header{Name: "n", Comment: "c", Extra: []byte("xyz")}), data, nil},
		{"all flags", flags(true), data, nil},
		{"bad header crc", flags(false), nil, ErrHeader},
		{"empty member", empty, nil, nil},
		{"multistream", append(append(bytes.Clone(plain), empty...), plain...), append(bytes.Clone(data), data...), nil},
		{"bad crc", corruptAt(-8), nil, ErrChecksum},
		{"bad isize", corruptAt(-1), nil, ErrChecksum},
		{"trailing garbage", append(bytes.Clone(plain), "garbage, more than ten bytes"...), nil, ErrHeader},
		{"trailing short garbage", append(bytes.Clone(plain), "gar"...), nil, io.ErrUnexpectedEOF},
		{"trailing zeros", append(bytes.Clone(plain), make([]byte, 20)...), nil, ErrHeader},
		{"not gzip", []byte("definitely not a gzip stream"), nil, ErrHeader},
		{"not deflate", append([]byte{0x1f, 0x8b, 7}, plain[3:]...), nil, ErrHeader},
		{"long name", append(append([]byte{0x1f, 0x8b, 8, 0x08, 0, 0, 0, 0, 0, 3}, bytes.Repeat([]byte("n"), 600)...), 0), nil, ErrHeader},
		{"empty input", nil, nil, io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := sameAsGzip(t, tt.in)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
			if err == nil {
				got, _ := ourGzipResult(tt.in)
				if !bytes.Equal(got, tt.want) {
					t.Fatalf("got %q, want %q", got, tt.want)
				}
			}
		})
	}
}

// TestHostileTruncated cuts a small stream at every byte: always an error, never a panic,
// and whatever was returned before is a prefix of the real output.
func TestHostileTruncated(t *testing.T) {
	data := testData(t)[:3000]
	data = append(data, bytes.Repeat([]byte("abcabcabd"), 300)...)
	for _, z := range [][]byte{gz(t, data, 6), gz(t, data, stdgzip.HuffmanOnly), gz(t, data, 0), gz(t, data[:100], 9)} {
		for i := range len(z) {
			for _, one := range []bool{false, true} {
				var r io.Reader = bytes.NewReader(z[:i])
				if one {
					r = iotest.OneByteReader(r)
				}
				zr, err := NewReader(r)
				if err != nil {
					if i >= 10 {
						t.Fatalf("cut at %d: header error %v", i, err)
					}
					continue
				}
				got, err := io.ReadAll(zr)
				if err == nil {
					t.Fatalf("cut at %d of %d: no error", i, len(z))
				}
				if !bytes.HasPrefix(data, got) {
					t.Fatalf("cut at %d: wrong output before the error", i)
				}
			}
		}
	}
}

// TestReadError: an error of the underlying reader comes out as is.
func TestReadError(t *testing.T) {
	z := gz(t, testData(t), 6)
	boom := errors.New("boom")
	zr, err := NewReader(io.MultiReader(bytes.NewReader(z[:len(z)/2]), iotest.ErrReader(boom)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, zr); !errors.Is(err, boom) {
		t.Fatalf("err %v, want boom", err)
	}
}

// TestHostileInflateMemory: memory does not grow with what a stream inflates to or
// claims: a 200 MB stream of zeros (about 200 KB compressed) and a header with a 64 KiB
// FEXTRA field allocate a bounded amount (the buffers, about 430 KiB).
func TestHostileInflateMemory(t *testing.T) {
	var z bytes.Buffer
	zw, _ := stdgzip.NewWriterLevel(&z, 9)
	zero := make([]byte, 1<<20)
	for range 200 {
		zw.Write(zero)
	}
	zw.Close()
	extra := append([]byte{0x1f, 0x8b, 8, 0x04, 0, 0, 0, 0, 0, 3, 0xff, 0xff}, make([]byte, 0xffff)...)
	extra = append(extra, gz(t, []byte("x"), 6)[10:]...)
	for _, tc := range []struct {
		name string
		in   []byte
		size int64
	}{{"zeros", z.Bytes(), 200 << 20}, {"extra", extra, 1}} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		zr, err := NewReader(bytes.NewReader(tc.in))
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, zr)
		runtime.ReadMemStats(&after)
		if err != nil || n != tc.size {
			t.Fatalf("%s: %d bytes, %v", tc.name, n, err)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
			t.Errorf("%s: %d bytes allocated", tc.name, alloc)
		}
	}
}

// scribbler returns reads of at most n bytes and, as io.Reader allows ("it may use all of
// p as scratch space during the call"), fills the rest of p with 0xff.
type scribbler struct {
	r io.Reader
	n int
}

func (s scribbler) Read(p []byte) (int, error) {
	k, err := s.r.Read(p[:min(len(p), s.n)])
	for i := k; i < len(p); i++ {
		p[i] = 0xff
	}
	return k, err
}

// TestBufferEnds: bytes past what Read returned are never decoded, whatever the reader
// left there, and the fast loop never loads past the input buffer: input buffers of
// 40..80 bytes that reads fill up, or reads of many sizes into a large one, with
// 600-byte output chunks so that the fast loop is re-entered at every input offset.
func TestBufferEnds(t *testing.T) {
	data := testData(t)[:300<<10]
	for _, lvl := range []int{1, 6, stdgzip.HuffmanOnly} {
		z := gz(t, data, lvl)
		check := func(name string, r io.Reader, in int) {
			t.Helper()
			zr := newReaderSize(r, in, tinyOut)
			zr.gzip = true
			if err := zr.header(true); err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(zr)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("level %d, %s: %d bytes, %v", lvl, name, len(got), err)
			}
		}
		for in := 40; in <= 80; in++ {
			check(fmt.Sprintf("%d-byte input buffer", in), bytes.NewReader(z), in)
		}
		for n := 17; n <= 61; n += 4 {
			check(fmt.Sprintf("reads of %d bytes", n*97), scribbler{bytes.NewReader(z), n * 97}, inSize)
		}
	}
}
