package compress

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// zstdWindow compresses n bytes (a 1 MiB random block repeated) in a frame that declares
// a window of the given size.
func zstdWindow(t *testing.T, window, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf, zstd.WithWindowSize(window), zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithSingleSegment(false))
	if err != nil {
		t.Fatal(err)
	}
	blk := make([]byte, 1<<20)
	for i := range blk {
		blk[i] = byte(i*7919 + i>>8*31)
	}
	for range n >> 20 {
		zw.Write(blk)
	}
	zw.Close()
	return buf.Bytes()
}

// TestHostileZstdWindow: a zstd frame may ask for a 128 MiB (or larger) history window,
// which the decoder then fills: memory no hostile input may claim. Windows beyond
// MaxZstdWindow are refused with an error saying so; windows up to it decode.
func TestHostileZstdWindow(t *testing.T) {
	for _, c := range []struct {
		window int
		ok     bool
	}{{8 << 20, true}, {MaxZstdWindow, true}, {128 << 20, false}} {
		data := zstdWindow(t, c.window, 4<<20)
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		rc, _, err := NewReader(bytes.NewReader(data), Options{})
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, rc)
		rc.Close()
		runtime.ReadMemStats(&m1)
		t.Logf("window %d MiB: %d bytes out, %v; allocated %d MiB", c.window>>20, n, err, (m1.TotalAlloc-m0.TotalAlloc)>>20)
		if c.ok && (err != nil || n != 4<<20) {
			t.Errorf("window %d MiB: %d bytes, %v", c.window>>20, n, err)
		}
		if !c.ok && (!errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "window")) {
			t.Errorf("window %d MiB: err = %v, want ErrTooLarge naming the window limit", c.window>>20, err)
		}
	}
}
