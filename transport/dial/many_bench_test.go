package dial

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/imgx/imgx/transport/transporttest"
)

// BenchmarkWriteMany writes 64 MB to 1 and 4 local directories (under
// IMGX_BENCH_DIR, e.g. /dev/shm, else the test's temporary directory) with a producer
// that only copies: what the fan-out itself costs per destination. scripts/bench-fanout.sh
// measures whole saves.
func BenchmarkWriteMany(b *testing.B) {
	data := transporttest.Data(9, 64<<20)
	for _, n := range []int{1, 4} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			root := os.Getenv("IMGX_BENCH_DIR")
			if root == "" {
				root = b.TempDir()
			}
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				dir, err := os.MkdirTemp(root, "fanout")
				if err != nil {
					b.Fatal(err)
				}
				var locs []string
				for i := range n {
					os.Mkdir(filepath.Join(dir, fmt.Sprint(i)), 0o755)
					locs = append(locs, filepath.Join(dir, fmt.Sprint(i), "x.imgx"))
				}
				if _, err := WriteMany(context.Background(), locs, Options{}, ManyOptions{}, fillWith(data)); err != nil {
					b.Fatal(err)
				}
				os.RemoveAll(dir)
			}
		})
	}
}

// BenchmarkWriteManySticks models USB sticks on their own ports: every destination takes
// at most 40 MB/s (a typical stick), so the device, not the CPU, bounds a save. 4 sticks
// at once should take about the time of one; the ratio is printed.
func BenchmarkWriteManySticks(b *testing.B) {
	data := transporttest.Data(9, 64<<20)
	const rate = 40e6
	per := map[int]time.Duration{}
	for _, n := range []int{1, 4} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			root := b.TempDir()
			b.SetBytes(int64(len(data)))
			start, runs := time.Now(), 0
			for b.Loop() {
				dir, _ := os.MkdirTemp(root, "fanout")
				var locs []string
				faults := map[string]*faulty{}
				for i := range n {
					os.Mkdir(filepath.Join(dir, fmt.Sprint(i)), 0o755)
					l := filepath.Join(dir, fmt.Sprint(i), "x.imgx")
					locs = append(locs, l)
					faults[l] = &faulty{rate: rate}
				}
				withBackends(b, faults)
				if _, err := WriteMany(context.Background(), locs, Options{}, ManyOptions{}, fillWith(data)); err != nil {
					b.Fatal(err)
				}
				os.RemoveAll(dir)
				runs++
			}
			per[n] = time.Since(start) / time.Duration(runs)
			if n == 4 && per[1] > 0 {
				b.ReportMetric(float64(per[4])/float64(per[1]), "x-of-one")
			}
		})
	}
}
