package transport_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/imgx/imgx/transport"
	"github.com/imgx/imgx/transport/dial"
)

// Put a file at a location and Get it back. The same code works for an sftp://, ftp://
// or ftps:// URL: dial.Open picks the backend (wrapped in the retry decorator for remote
// ones) from the location.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "imgx-example-")
	defer os.RemoveAll(dir)

	loc, err := transport.ParseLocation(filepath.Join(dir, "hello.imgx"))
	if err != nil {
		panic(err)
	}
	b, name, err := dial.Open(ctx, loc, dial.Options{}) // the backend of the file's directory
	if err != nil {
		panic(err)
	}
	defer b.Close()

	// Put writes .hello.imgx.imgx-part and renames it into place when complete; an
	// interrupted Put of the same bytes resumes.
	res, err := transport.Put(ctx, b, name, strings.NewReader("hello, carrier\n"), transport.PutOptions{})
	if err != nil {
		panic(err)
	}
	fmt.Println(name, res.Size, res.SHA256[:12])

	// Get continues after what dst already holds (nothing here).
	dst, _ := os.Create(filepath.Join(dir, "copy"))
	defer dst.Close()
	n, err := transport.Get(ctx, b, name, dst, transport.GetOptions{})
	if err != nil {
		panic(err)
	}
	got, _ := os.ReadFile(dst.Name())
	fmt.Print(n, " ", string(got))
	// Output:
	// hello.imgx 15 61e7266a391c
	// 15 hello, carrier
}

// ParseLocation accepts local paths and sftp://, ftp:// and ftps:// URLs; "-" is standard
// input or output, which the caller handles.
func ExampleParseLocation() {
	for _, s := range []string{"/media/usb/app.imgx", "sftp://deploy@gateway:2222/srv/incoming/", "ftps://depot.lan/pub/x.imgx", "-"} {
		loc, err := transport.ParseLocation(s)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s host=%q path=%q remote=%v dir=%v\n", loc.Scheme, loc.Host, loc.Path, loc.IsRemote(), loc.IsDir())
	}
	// Output:
	// file host="" path="/media/usb/app.imgx" remote=false dir=false
	// sftp host="gateway" path="/srv/incoming/" remote=true dir=true
	// ftps host="depot.lan" path="pub/x.imgx" remote=true dir=false
	// - host="" path="" remote=false dir=false
}
