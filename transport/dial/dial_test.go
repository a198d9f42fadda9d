package dial

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/imgx/imgx/transport"
)

func TestSplitPath(t *testing.T) {
	tests := []struct{ in, dir, name string }{
		{"/media/usb/x.imgx", "/media/usb/", "x.imgx"},
		{"x.imgx", ".", "x.imgx"},
		{"sftp://h/srv/x.imgx", "/srv/", "x.imgx"},
		{"sftp://h/x.imgx", "/", "x.imgx"},
		{"sftp://h/~/x.imgx", "~/", "x.imgx"},
		{"ftp://h/x.imgx", "./", "x.imgx"},
		{"ftp://h/in/x.imgx", "in/", "x.imgx"},
	}
	for _, tc := range tests {
		loc, err := transport.ParseLocation(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		d, n := splitPath(loc)
		if d != tc.dir || n != tc.name {
			t.Errorf("%s: %q %q, want %q %q", tc.in, d, n, tc.dir, tc.name)
		}
	}
}

func TestOpenLocal(t *testing.T) {
	dir := t.TempDir()
	loc, _ := transport.ParseLocation(filepath.Join(dir, "b.imgx"))
	b, name, err := Open(context.Background(), loc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := transport.Put(context.Background(), b, name, bytes.NewReader([]byte("bundle")), transport.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "b.imgx")); string(got) != "bundle" {
		t.Fatalf("got %q", got)
	}
	loc, _ = transport.ParseLocation(dir + "/")
	if _, _, err := Open(context.Background(), loc, Options{}); err == nil {
		t.Fatal("open of a directory location succeeded")
	}
}
