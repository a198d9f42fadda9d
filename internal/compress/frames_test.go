package compress

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"
	"testing/iotest"
	"time"

	"github.com/klauspost/compress/zstd"
)

// rawFrame is a frame of raw blocks as imgx's bundle writer lays it out: single segment,
// 4-byte content size, blocks of 128 KiB.
func rawFrame(p []byte) []byte {
	dst := binary.LittleEndian.AppendUint32(nil, 0xFD2FB528)
	dst = append(dst, 0xA0)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(p)))
	for {
		n := min(len(p), maxBlockSize)
		last := uint32(0)
		if n == len(p) {
			last = 1
		}
		h := last | uint32(n)<<3
		dst = append(dst, byte(h), byte(h>>8), byte(h>>16))
		dst = append(dst, p[:n]...)
		p = p[n:]
		if last == 1 {
			return dst
		}
	}
}

// encodeAll is a frame as klauspost's EncodeAll writes it (content size known).
func encodeAll(t testing.TB, p []byte, opts ...zstd.EOption) []byte {
	e, err := zstd.NewWriter(nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	return e.EncodeAll(p, nil)
}

// streamed is a frame as a streaming encoder writes it: no content size.
func streamed(t testing.TB, p []byte) []byte {
	var b bytes.Buffer
	e, err := zstd.NewWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Write(p); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// mixedFrame is one frame of content raw+comp: raw as a raw block, then comp as the
// blocks klauspost's EncodeAll makes of it.
func mixedFrame(t testing.TB, raw, comp []byte) []byte {
	c := encodeAll(t, comp, zstd.WithEncoderCRC(false))
	fhd := c[4]
	hdr := 5 + [4]int{0, 2, 4, 8}[fhd>>6]
	if fhd&(1<<5) == 0 {
		hdr++
	} else if fhd>>6 == 0 {
		hdr++
	}
	if fhd&3 != 0 || fhd&(1<<2) != 0 {
		t.Fatalf("klauspost frame header %#x: dictionary or checksum", fhd)
	}
	f := binary.LittleEndian.AppendUint32(nil, 0xFD2FB528)
	f = append(f, 0xA0)
	f = binary.LittleEndian.AppendUint32(f, uint32(len(raw)+len(comp)))
	h := uint32(len(raw)) << 3 // raw, not last
	f = append(f, byte(h), byte(h>>8), byte(h>>16))
	f = append(f, raw...)
	return append(f, c[hdr:]...)
}

func skippable(n int) []byte {
	b := binary.LittleEndian.AppendUint32(nil, 0x184D2A53)
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	return append(b, make([]byte, n)...)
}

// streamDecode is the reference: klauspost's streaming decoder, as NewReader sets it up.
func streamDecode(in []byte) ([]byte, error) {
	d, err := newStreamDecoder(bytes.NewReader(in))
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return io.ReadAll(d)
}

// framesDecode decodes in with the frame reader, reading chunk bytes at a time, from a
// source that gives at most half of what is asked when half is set.
func framesDecode(in []byte, chunk int, half bool) ([]byte, error) {
	var src io.Reader = bytes.NewReader(in)
	if half {
		src = iotest.HalfReader(src)
	}
	z := newFrameReader(context.Background(), src)
	defer z.Close()
	var out []byte
	buf := make([]byte, chunk)
	for {
		n, err := z.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

// checkSame fails t unless the frame reader and the streaming decoder agree on in: the
// same output when both succeed, and both fail or neither.
func checkSame(t testing.TB, in []byte) {
	want, wantErr := streamDecode(in)
	for _, c := range []struct {
		chunk int
		half  bool
	}{{1 << 20, false}, {7, false}, {1 << 20, true}} {
		chunk := c.chunk
		got, err := framesDecode(in, chunk, c.half)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("chunk %d: frame reader error %v, streaming decoder error %v", chunk, err, wantErr)
		}
		if err == nil && !bytes.Equal(got, want) {
			t.Fatalf("chunk %d: frame reader gave %d bytes, streaming decoder %d; they differ", chunk, len(got), len(want))
		}
	}
}

func TestFramesLikeStreamingDecoder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	// Compressible but not trivially: words drawn at random, 7 MB.
	words := []string{"usr/", "share/", "doc/", "copyright ", "lib/", "x86_64-linux-gnu/", "libc.so.6 ", "bin/", "0644 ", "root "}
	var tb []byte
	for len(tb) < 7<<20 {
		tb = append(tb, words[rng.IntN(len(words))]...)
	}
	text := tb
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	big := random(maxFrameContent + 1)
	tests := []struct {
		name string
		in   []byte
	}{
		{"raw frames of imgx", cat(rawFrame(random(4<<20)), rawFrame(random(maxBlockSize)), rawFrame(random(maxBlockSize+1)), rawFrame(random(1)))},
		{"empty raw frame", cat(rawFrame(nil), rawFrame(random(10)))},
		{"compressed frames", cat(encodeAll(t, text[:4<<20]), encodeAll(t, text[:1000]), encodeAll(t, nil))},
		{"compressed frames with checksums", cat(encodeAll(t, text[:3<<20], zstd.WithEncoderCRC(true)), encodeAll(t, random(5000), zstd.WithEncoderCRC(true)))},
		{"many small frames in order", func() []byte {
			var b []byte
			for i := range 200 {
				if i%3 == 0 {
					b = append(b, rawFrame(random(i*100))...)
				} else {
					b = append(b, encodeAll(t, text[i:i*977])...)
				}
			}
			return b
		}()},
		{"raw first block, then compressed ones, then raw frames", func() []byte {
			// One frame: a full raw block, then the blocks of a klauspost frame. Read as
			// if all raw, its guessed length runs past its end into the next frames.
			return cat(mixedFrame(t, random(maxBlockSize), text[:300000]), rawFrame(random(4<<20)), rawFrame(random(10)))
		}()},
		{"a frame too big, then raw ones", cat(rawFrame(random(10)), encodeAll(t, big), rawFrame(random(100)))},
		{"a frame with no content size", cat(rawFrame(random(10)), streamed(t, text[:300000]), rawFrame(random(100)))},
		{"skippable frame", cat(rawFrame(random(10)), skippable(100), rawFrame(random(100)))},
		{"cut inside a raw block", rawFrame(random(300000))[:200000]},
		{"cut inside a block header", rawFrame(random(300000))[:9+3+maxBlockSize+1]},
		{"cut inside a frame header", cat(rawFrame(random(10)), rawFrame(random(10))[:6])},
		{"cut after a magic", cat(rawFrame(random(10)), rawFrame(random(10))[:4])},
		{"cut inside a compressed frame", encodeAll(t, text[:1<<20])[:500]},
		{"trailing garbage", cat(rawFrame(random(10)), []byte("garbage!"))},
		{"trailing zero bytes", cat(rawFrame(random(10)), make([]byte, 3))},
		{"raw content shorter than its size", func() []byte {
			f := rawFrame(random(1000))
			binary.LittleEndian.PutUint32(f[5:], 2000)
			return f
		}()},
		{"raw content longer than its size", func() []byte {
			f := rawFrame(random(1000))
			binary.LittleEndian.PutUint32(f[5:], 999)
			return f
		}()},
		{"corrupt compressed frame", func() []byte {
			f := encodeAll(t, text[:1<<20])
			f[len(f)/2] ^= 0x55
			return cat(rawFrame(random(10)), f)
		}()},
		{"reserved block type", func() []byte {
			f := rawFrame(random(1000))
			f[9] |= 3 << 1
			return f
		}()},
		{"raw block over 128 KiB", func() []byte {
			f := binary.LittleEndian.AppendUint32(nil, 0xFD2FB528)
			f = append(f, 0xA0)
			f = binary.LittleEndian.AppendUint32(f, maxBlockSize+1)
			h := uint32(1) | uint32(maxBlockSize+1)<<3
			return append(append(f, byte(h), byte(h>>8), byte(h>>16)), random(maxBlockSize+1)...)
		}()},
		{"window over the limit", func() []byte {
			f := binary.LittleEndian.AppendUint32(nil, 0xFD2FB528)
			f = append(f, 0x80, 0xff) // 4-byte size, window descriptor: 2^25 and more
			f = binary.LittleEndian.AppendUint32(f, 10)
			return append(f, 0x51, 0, 0) // raw block of 10, last
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkSame(t, tt.in) })
	}
}

// TestFramesSourceError: a read error of the source is returned as it is, after what
// was decoded before it.
func TestFramesSourceError(t *testing.T) {
	boom := errors.New("connection reset")
	in := append(rawFrame([]byte("hello")), rawFrame(make([]byte, 1000))...)
	for _, cut := range []int{len(rawFrame([]byte("hello"))), len(in) - 10} {
		z := newFrameReader(context.Background(), io.MultiReader(bytes.NewReader(in[:cut]), iotest.ErrReader(boom)))
		got, err := io.ReadAll(z)
		z.Close()
		if !errors.Is(err, boom) {
			t.Errorf("cut at %d: error %v, want %v", cut, err, boom)
		}
		if string(got) != "hello" {
			t.Errorf("cut at %d: read %q before the error, want hello", cut, got)
		}
	}
}

// TestFramesContextEndsWait: a Read waiting on a source that hangs returns once the
// context is cancelled.
func TestFramesContextEndsWait(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	hang := make(chan struct{})
	defer close(hang)
	z := newFrameReader(ctx, io.MultiReader(bytes.NewReader(rawFrame([]byte("first"))), hangReader(hang)))
	defer z.Close()
	got := make([]byte, 5)
	if _, err := io.ReadFull(z, got); err != nil || string(got) != "first" {
		t.Fatalf("first frame: %q, %v", got, err)
	}
	time.AfterFunc(50*time.Millisecond, cancel)
	if _, err := z.Read(got); !errors.Is(err, context.Canceled) {
		t.Fatalf("Read on a hung source after cancel: %v, want context.Canceled", err)
	}
}

type hangReader chan struct{}

func (h hangReader) Read([]byte) (int, error) { <-h; return 0, io.EOF }

// TestFramesCloseStops: Close ends the reading goroutine even when the consumer stopped
// reading with frames queued.
func TestFramesCloseStops(t *testing.T) {
	frame := rawFrame(make([]byte, 1<<20))
	before := runtime.NumGoroutine()
	for range 10 {
		z := newFrameReader(context.Background(), bytes.NewReader(bytes.Repeat(frame, 20)))
		if _, err := z.Read(make([]byte, 10)); err != nil {
			t.Fatal(err)
		}
		z.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines left after Close, %d before", n, before)
	}
}

// TestNewReaderFrames: NewReader with Frames decodes a stream it detected as zstd, also
// the part detection buffered.
func TestNewReaderFrames(t *testing.T) {
	var in []byte
	var want []byte
	for i := range 40 {
		p := bytes.Repeat([]byte{byte(i)}, 100000+i)
		want = append(want, p...)
		in = append(in, rawFrame(p)...)
	}
	rc, kind, err := NewReader(bytes.NewReader(in), Options{Frames: true})
	if err != nil || kind != Zstd {
		t.Fatalf("NewReader: %v, %v", kind, err)
	}
	defer rc.Close()
	if _, ok := rc.(*frameReader); !ok {
		t.Fatalf("NewReader with Frames gave a %T", rc)
	}
	got, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes (%v), want %d", len(got), err, len(want))
	}
}

func FuzzFrames(f *testing.F) {
	f.Add(rawFrame([]byte("a")))
	f.Add(append(rawFrame(bytes.Repeat([]byte("xy"), 70000)), rawFrame(nil)...))
	f.Add(encodeAll(f, bytes.Repeat([]byte("abc"), 1000)))
	f.Add(encodeAll(f, []byte("checked"), zstd.WithEncoderCRC(true)))
	f.Add(append(skippable(3), rawFrame([]byte("b"))...))
	f.Add(streamed(f, []byte("no size")))
	f.Add(append(mixedFrame(f, bytes.Repeat([]byte{7}, maxBlockSize), bytes.Repeat([]byte("mixed "), 5000)), rawFrame([]byte("next"))...))
	f.Fuzz(func(t *testing.T, in []byte) {
		checkSame(t, in)
	})
}
