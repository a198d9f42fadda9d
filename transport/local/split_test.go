package local

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/imgx/imgx/transport"
	"github.com/imgx/imgx/transport/transporttest"
)

func splitFixture(t *testing.T) (*Backend, string, []byte) {
	dir := t.TempDir()
	b, err := New(dir, Options{SplitSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	data := transporttest.Data(5, 3500)
	if _, err := transport.Put(context.Background(), b, "set.imgx", bytes.NewReader(data), transport.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	return b, dir, data
}

func TestSplitVolumes(t *testing.T) {
	b, dir, data := splitFixture(t)
	var files []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		files = append(files, e.Name())
	}
	want := []string{"set.imgx.001", "set.imgx.002", "set.imgx.003", "set.imgx.004", "set.imgx.volumes"}
	if !slices.Equal(files, want) {
		t.Fatalf("files %q, want %q", files, want)
	}
	// the set reads as one stream from its base name or any volume
	plain, _ := New(dir, Options{SplitSize: -1})
	for _, name := range []string{"set.imgx", "set.imgx.003", "set.imgx.001", "set.imgx.volumes"} {
		mustRead(t, plain, name, 0, data)
	}
	mustRead(t, plain, "set.imgx", 2500, data[2500:])
	fi, err := plain.Stat(context.Background(), "set.imgx.002")
	if err != nil || fi.Size != 3500 || fi.Name != "set.imgx" {
		t.Fatalf("stat: %+v %v", fi, err)
	}
	var listed []string
	b.List(context.Background(), "", func(fi transport.FileInfo) error { listed = append(listed, fi.Name); return nil })
	if !slices.Equal(listed, []string{"set.imgx"}) {
		t.Fatalf("list %q", listed)
	}
}

func mustRead(t *testing.T, b *Backend, name string, off int64, want []byte) {
	t.Helper()
	rd, err := b.Open(context.Background(), name, off)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	defer rd.Close()
	got, err := io.ReadAll(rd)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read %s at %d: %d bytes, %v", name, off, len(got), err)
	}
}

func TestSplitDamage(t *testing.T) {
	tests := []struct {
		name    string
		damage  func(dir string)
		wantErr string
		onRead  bool
	}{
		{"missing volume", func(d string) { os.Remove(filepath.Join(d, "set.imgx.002")) }, "volume set.imgx.002 is missing", false},
		{"short volume", func(d string) { os.Truncate(filepath.Join(d, "set.imgx.003"), 10) }, "volume set.imgx.003 is damaged: 10 bytes, want 1000", false},
		{"flipped byte", func(d string) {
			f, _ := os.OpenFile(filepath.Join(d, "set.imgx.002"), os.O_RDWR, 0)
			f.WriteAt([]byte{'X'}, 500)
			f.Close()
		}, "volume set.imgx.002 is damaged: sha256 differs", true},
		{"missing index", func(d string) { os.Remove(filepath.Join(d, "set.imgx.volumes")) }, "index set.imgx.volumes missing", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, dir, _ := splitFixture(t)
			tc.damage(dir)
			rd, err := b.Open(context.Background(), "set.imgx", 0)
			if err == nil {
				_, err = io.Copy(io.Discard, rd)
				rd.Close()
				if !tc.onRead {
					t.Fatalf("open succeeded, want %q", tc.wantErr)
				}
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !b.IsPermanent(err) {
				t.Fatalf("got %v, want permanent %q", err, tc.wantErr)
			}
		})
	}
}

func TestFATAutoSplit(t *testing.T) {
	old := fsType
	fsType = func(string) (int64, error) { return msdosSuperMagic, nil }
	defer func() { fsType = old }()
	var notices []string
	b, err := New(t.TempDir(), Options{Notice: func(m string) { notices = append(notices, m) }})
	if err != nil {
		t.Fatal(err)
	}
	split, err := b.splitSize("x.imgx")
	if err != nil || split != FATSplitSize {
		t.Fatalf("split size %d, %v", split, err)
	}
	if len(notices) != 1 || !strings.Contains(notices[0], "FAT") || !strings.Contains(notices[0], "x.imgx.001") {
		t.Fatalf("notices %q", notices)
	}
	b2, _ := New(t.TempDir(), Options{SplitSize: -1})
	if s, _ := b2.splitSize("x"); s != 0 {
		t.Fatalf("split disabled but got %d", s)
	}
}
