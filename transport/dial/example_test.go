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

// Write one stream to several locations at once, as `imgx save -o A -o B` does: fill runs
// once, each destination gets its own upload and read back, and a failed one does not
// stop the others.
func ExampleWriteMany() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "imgx-example-")
	defer os.RemoveAll(dir)
	os.Mkdir(filepath.Join(dir, "usb1"), 0o755)
	os.Mkdir(filepath.Join(dir, "usb2"), 0o755)
	locs := []string{
		filepath.Join(dir, "usb1", "event.imgx"),
		filepath.Join(dir, "usb2", "event.imgx"),
		filepath.Join(dir, "not-plugged-in", "event.imgx"),
	}
	dests, err := dial.WriteMany(ctx, locs, dial.Options{}, dial.ManyOptions{WriteOptions: dial.WriteOptions{Verify: true}}, func(w io.Writer) error {
		_, err := io.WriteString(w, "bundle bytes\n")
		return err
	})
	for _, d := range dests {
		fmt.Println(filepath.Base(filepath.Dir(d.Location)), d.Status())
	}
	fmt.Println(err)
	// Output:
	// usb1 verified
	// usb2 verified
	// not-plugged-in failed
	// 1 of 3 destinations failed
}
