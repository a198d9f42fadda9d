package bundle

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// An uncompressed layer of random bytes: save must not spend a zstd pass on frames that
// do not shrink, but store them as raw blocks (the bytes appendRawFrame makes), and
// still compress the frames that do; the stream decodes to the input either way.
func TestFrameWriterStoresIncompressibleRaw(t *testing.T) {
	random := make([]byte, chunkSize)
	rng := rand.NewChaCha8([32]byte{1})
	_, _ = rng.Read(random)
	text := bytes.Repeat([]byte("compressible layer content, "), chunkSize/28)

	for _, tc := range []struct {
		name string
		data []byte
		raw  bool
	}{
		{"random", random, true},
		{"text", text, false},
		{"small random", random[:64<<10], false}, // too small to probe: encoded whole
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			fw := newFrameWriter(&out, zstd.SpeedDefault, 2)
			if _, err := fw.Write(tc.data); err != nil {
				t.Fatal(err)
			}
			if err := fw.Close(); err != nil {
				t.Fatal(err)
			}
			if raw := bytes.Equal(out.Bytes(), appendRawFrame(nil, tc.data)); raw != tc.raw {
				t.Errorf("stored raw = %v, want %v (%d bytes out of %d)", raw, tc.raw, out.Len(), len(tc.data))
			}
			dec, err := zstd.NewReader(nil)
			if err != nil {
				t.Fatal(err)
			}
			defer dec.Close()
			got, err := dec.DecodeAll(out.Bytes(), nil)
			if err != nil || !bytes.Equal(got, tc.data) {
				t.Fatalf("decoded %d bytes, %v; want the %d written", len(got), err, len(tc.data))
			}
		})
	}
}

// Raw frames laid out as their bytes arrive (Write and ReadFrom, in pieces that cross
// block and chunk boundaries) are the bytes appendRawFrame makes of each chunk.
func TestFrameWriterRawLayout(t *testing.T) {
	data := make([]byte, 2*chunkSize+3*maxRawBlock+17)
	rng := rand.NewChaCha8([32]byte{2})
	_, _ = rng.Read(data)
	var want []byte
	for p := data; len(p) > 0; {
		n := min(len(p), chunkSize)
		want = appendRawFrame(want, p[:n])
		p = p[n:]
	}
	for _, useReadFrom := range []bool{false, true} {
		var out bytes.Buffer
		fw := newFrameWriter(&out, zstd.SpeedDefault, 2)
		if err := fw.Cut(modeRaw); err != nil {
			t.Fatal(err)
		}
		if useReadFrom {
			if _, err := fw.ReadFrom(bytes.NewReader(data)); err != nil {
				t.Fatal(err)
			}
		} else {
			for p := data; len(p) > 0; {
				n := min(len(p), 100_003)
				if _, err := fw.Write(p[:n]); err != nil {
					t.Fatal(err)
				}
				p = p[n:]
			}
		}
		if err := fw.Close(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), want) {
			t.Errorf("ReadFrom %v: %d bytes, differ from appendRawFrame's %d", useReadFrom, out.Len(), len(want))
		}
	}
}
