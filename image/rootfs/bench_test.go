package rootfs

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// benchImage is a synthetic 3-layer image of about 64 MiB: a base of many
// files, an update that deletes, replaces and adds, and a small top layer.
func benchImage(b *testing.B) ([][]byte, int64) {
	rng := rand.NewChaCha8([32]byte{1})
	blob := func(n int) string {
		buf := make([]byte, n)
		rng.Read(buf)
		return string(buf)
	}
	var base, upd, top []ent
	for d := range 16 {
		base = append(base, dir(fmt.Sprintf("usr/lib/d%02d", d)))
		for f := range 64 {
			base = append(base, file(fmt.Sprintf("usr/lib/d%02d/f%03d", d, f), blob(32<<10)))
		}
		upd = append(upd, wh(fmt.Sprintf("usr/lib/d%02d/.wh.f000", d)))
		for f := 1; f < 33; f++ {
			upd = append(upd, file(fmt.Sprintf("usr/lib/d%02d/f%03d", d, f), blob(32<<10)))
		}
		for f := range 500 {
			upd = append(upd, file(fmt.Sprintf("usr/share/d%02d/small%03d", d, f), blob(64)))
		}
	}
	for f := range 8 {
		top = append(top, file(fmt.Sprintf("opt/big%d", f), blob(1<<20)))
	}
	layers := [][]byte{mkTar(b, base...), mkTar(b, upd...), mkTar(b, top...)}
	var total int64
	for _, l := range layers {
		total += int64(len(l))
	}
	return layers, total
}

func BenchmarkFlatten(b *testing.B) {
	layers, total := benchImage(b)
	b.SetBytes(total)
	b.ResetTimer()
	for b.Loop() {
		if err := Flatten(context.Background(), openers(layers...), io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnpack(b *testing.B) {
	layers, total := benchImage(b)
	tmp := b.TempDir()
	b.SetBytes(total)
	b.ResetTimer()
	i := 0
	for b.Loop() {
		dir := filepath.Join(tmp, fmt.Sprint(i))
		i++
		if err := Unpack(context.Background(), openers(layers...), dir); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.RemoveAll(dir)
		b.StartTimer()
	}
}
