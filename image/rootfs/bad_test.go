package rootfs

import (
	"archive/tar"
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestCheckEntryName(t *testing.T) {
	tests := []struct {
		in, want string
		err      error
	}{
		{"a/b", "a/b", nil},
		{"./a/b", "a/b", nil},
		{"a/b/", "a/b", nil},
		{"/etc/passwd", "etc/passwd", nil},
		{"//a//b", "a/b", nil},
		{"a/../b", "b", nil},
		{"./", ".", nil},
		{"/", ".", nil},
		{"..", "", ErrUnsafePath},
		{"../x", "", ErrUnsafePath},
		{"a/../../x", "", ErrUnsafePath},
		{"/../etc/passwd", "", ErrUnsafePath},
		{"", "", ErrInvalidName},
		{"a\x00b", "", ErrInvalidName},
	}
	for _, tt := range tests {
		got, err := CheckEntryName(tt.in)
		if !errors.Is(err, tt.err) || got != tt.want {
			t.Errorf("CheckEntryName(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestFlattenBadInput(t *testing.T) {
	good := mkTar(t, file("ok", "ok"))
	big := mkTar(t, file("a", strings.Repeat("x", 3000)), file("b", "b"))
	garbage := bytes.Repeat([]byte("this is not a tar file. "), 64)

	tests := []struct {
		name    string
		layer   []byte // placed as layer 1, above a good layer 0
		err     error
		message string
	}{
		{"truncated in content", big[:1500], ErrBadLayer, "layer 1: "},
		{"truncated in header", big[:512*7+100], ErrBadLayer, "layer 1: "},
		{"garbage", garbage, ErrBadLayer, "layer 1: malformed layer: read tar"},
		{"dot dot escape", mkTar(t, file("../../etc/passwd", "x")), ErrUnsafePath,
			"layer 1: entry ../../etc/passwd: path escapes root"},
		{"escape after cleaning", mkTar(t, file("a/../../b", "x")), ErrUnsafePath, "entry a/../../b: path escapes root"},
		{"absolute escape", mkTar(t, file("/../etc/passwd", "x")), ErrUnsafePath, "entry /../etc/passwd"},
		{"hard link escape", mkTar(t, hard("h", "../../etc/shadow")), ErrUnsafePath,
			"layer 1: entry h: hard link target ../../etc/shadow: path escapes root"},
		{"hard link target missing", mkTar(t, hard("h", "nope")), ErrBadLayer, "hard link target nope not found"},
		{"hard link to directory", mkTar(t, dir("d"), hard("h", "d")), ErrBadLayer, "is a directory"},
		{"child under symlink", mkTar(t, sym("evil", "/etc"), file("evil/passwd", "x")), ErrBadLayer,
			"entry evil/passwd: malformed layer: parent evil is not a directory"},
		{"child under file", mkTar(t, file("f", "x"), file("f/g", "x")), ErrBadLayer, "parent f is not a directory"},
		{"unsupported type", mkTar(t, ent{name: "v", typ: 'V', mode: 0o644}), ErrBadLayer, "unsupported entry type"},
		{"root entry not a dir", mkTar(t, file(".", "")), ErrBadLayer, "root entry is not a directory"},
		{"empty whiteout", mkTar(t, wh("d/.wh.")), ErrBadLayer, "invalid whiteout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := flatten(t, good, tt.layer)
			t.Log(err)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			var ee *EntryError
			if !errors.As(err, &ee) || ee.Layer != 1 {
				t.Errorf("err = %#v, want *EntryError for layer 1", err)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("err = %q, want it to contain %q", err, tt.message)
			}
		})
	}
}

// TestFlattenSymlinkParentAcrossLayers: a lower symlink does not let an upper
// layer write through it.
func TestFlattenSymlinkParentAcrossLayers(t *testing.T) {
	_, err := flatten(t, mkTar(t, sym("etc", "/host/etc")), mkTar(t, file("etc/passwd", "x")))
	if !errors.Is(err, ErrBadLayer) || !strings.Contains(err.Error(), "layer 1: entry etc/passwd") {
		t.Fatalf("err = %v, want layer 1 etc/passwd ErrBadLayer", err)
	}
}

func TestFlattenGlobalHeaderSkipped(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: "g", PAXRecords: map[string]string{"comment": "x"}})
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "a", Mode: 0o644, Size: 1, ModTime: testTime})
	tw.Write([]byte("a"))
	tw.Close()
	out, err := flatten(t, buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if got := listTar(t, out); len(got) != 1 || got[0] != `a 0 0644 0:0 "a"` {
		t.Errorf("entries = %q", got)
	}
}
