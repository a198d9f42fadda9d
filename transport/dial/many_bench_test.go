package dial

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

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
