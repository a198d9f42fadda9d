package dial_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/imgx/imgx/transport/dial"
)

// Write a stream to a location with a read back, then open it for reading, as
// `imgx save -o` and `imgx load -i` do. fill is called once; a re-run after an
// interruption regenerates the same bytes and only the rest is written.
func ExampleWrite() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "imgx-example-")
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "nightly.imgx") // or sftp://deploy@gateway/incoming/nightly.imgx

	res, err := dial.Write(ctx, out, dial.Options{}, dial.WriteOptions{Verify: true}, func(w io.Writer) error {
		_, err := io.WriteString(w, "bundle bytes\n")
		return err
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Size, res.Resumed)

	in, err := dial.OpenInput(ctx, out, dial.Options{})
	if err != nil {
		panic(err)
	}
	defer in.R.Close()
	b, _ := io.ReadAll(in.R)
	fmt.Print(in.Size, " ", string(b))
	// Output:
	// 13 0
	// 13 bundle bytes
}
