package compress

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// BenchmarkFrames compares the frame reader with the streaming decoder on 64 MiB in
// imgx's framing: raw frames (already compressed blobs) and compressed ones (text).
//
//	go test ./internal/compress -run '^$' -bench Frames
func BenchmarkFrames(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	raw := make([]byte, 64<<20)
	for i := range raw {
		raw[i] = byte(rng.Uint32())
	}
	words := []string{"usr/", "share/", "doc/", "copyright ", "lib/", "x86_64-linux-gnu/", "libc.so.6 ", "bin/", "0644 ", "root "}
	var text []byte
	for len(text) < 64<<20 {
		text = append(text, words[rng.IntN(len(words))]...)
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderCRC(false))
	if err != nil {
		b.Fatal(err)
	}
	var rawStream, textStream []byte
	for off := 0; off < 64<<20; off += 4 << 20 {
		rawStream = append(rawStream, rawFrame(raw[off:off+4<<20])...)
		textStream = enc.EncodeAll(text[off:off+4<<20], textStream)
	}
	for _, in := range []struct {
		name   string
		stream []byte
	}{{"raw", rawStream}, {"compressed", textStream}} {
		b.Run(in.name+"/stream", func(b *testing.B) {
			b.SetBytes(64 << 20)
			for b.Loop() {
				d, err := newStreamDecoder(bytes.NewReader(in.stream))
				if err != nil {
					b.Fatal(err)
				}
				drainBench(b, d)
				d.Close()
			}
		})
		b.Run(in.name+"/frames", func(b *testing.B) {
			b.SetBytes(64 << 20)
			for b.Loop() {
				z := newFrameReader(context.Background(), bytes.NewReader(in.stream))
				drainBench(b, z)
				z.Close()
			}
		})
	}
}

// drainBench reads r to its end through a 1 MiB buffer, as the store's hashCopy does.
func drainBench(b *testing.B, r io.Reader) {
	buf := make([]byte, 1<<20)
	n := 0
	for {
		m, err := r.Read(buf)
		n += m
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	if n != 64<<20 {
		b.Fatalf("read %d bytes, want %d", n, 64<<20)
	}
}
