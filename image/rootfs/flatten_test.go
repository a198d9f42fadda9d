package rootfs

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"testing"
)

func TestFlatten(t *testing.T) {
	tests := []struct {
		name   string
		layers [][]ent
		want   []string
	}{
		{
			name: "whiteout file",
			layers: [][]ent{
				{dir("a"), file("a/x", "1"), file("a/y", "2")},
				{wh("a/.wh.x")},
			},
			want: []string{`a/ 5 0755 0:0`, `a/y 0 0644 0:0 "2"`},
		},
		{
			name: "whiteout dir removes subtree",
			layers: [][]ent{
				{dir("a"), dir("a/b"), file("a/b/c", "c"), file("a/d", "d")},
				{wh("a/.wh.b")},
			},
			want: []string{`a/ 5 0755 0:0`, `a/d 0 0644 0:0 "d"`},
		},
		{
			name: "opaque dir keeps same-layer children in any order",
			layers: [][]ent{
				{dir("a"), file("a/old", "o"), dir("a/keep").withMode(0o750), file("a/keep/lower", "l")},
				{dir("a").withMode(0o700), file("a/keep/k", "k"), wh("a/.wh..wh..opq"), file("a/new", "n")},
			},
			want: []string{
				`a/ 5 0700 0:0`, // first incarnation's position, final header
				`a/keep/ 5 0750 0:0`,
				`a/keep/k 0 0644 0:0 "k"`,
				`a/new 0 0644 0:0 "n"`,
			},
		},
		{
			name: "whiteout then recreate replaces dir without merge",
			layers: [][]ent{
				{dir("d"), file("d/x", "x"), file("top", "t")},
				{wh(".wh.d"), dir("d").withMode(0o700), file("d/y", "y")},
			},
			want: []string{`top 0 0644 0:0 "t"`, `d/ 5 0700 0:0`, `d/y 0 0644 0:0 "y"`},
		},
		{
			name: "whiteout does not hide same layer entry",
			layers: [][]ent{
				{file("a", "old"), file("b", "old")},
				{file("a", "new"), wh(".wh.a"), wh(".wh.b"), file("b", "new")},
			},
			want: []string{`a 0 0644 0:0 "new"`, `b 0 0644 0:0 "new"`},
		},
		{
			name: "dir replaced by file",
			layers: [][]ent{
				{dir("a"), dir("a/b"), file("a/b/c", "c")},
				{file("a/b", "file")},
			},
			want: []string{`a/ 5 0755 0:0`, `a/b 0 0644 0:0 "file"`},
		},
		{
			name: "file replaced by dir",
			layers: [][]ent{
				{file("a", "f"), file("z", "z")},
				{dir("a"), file("a/c", "c")},
			},
			want: []string{`z 0 0644 0:0 "z"`, `a/ 5 0755 0:0`, `a/c 0 0644 0:0 "c"`},
		},
		{
			name: "symlink replaced",
			layers: [][]ent{
				{sym("l", "x"), file("x", "x"), sym("m", "x")},
				{sym("l", "y"), file("m", "m")},
			},
			want: []string{`x 0 0644 0:0 "x"`, `l 2 0777 0:0 -> y`, `m 0 0644 0:0 "m"`},
		},
		{
			name:   "hard link within a layer",
			layers: [][]ent{{dir("d"), file("d/a", "data"), hard("d/b", "./d/a")}},
			want:   []string{`d/ 5 0755 0:0`, `d/a 0 0644 0:0 "data"`, `d/b 1 0644 0:0 => d/a`},
		},
		{
			name: "hard link across layers and through a link",
			layers: [][]ent{
				{file("a", "data"), hard("b", "a")},
				{hard("c", "b")},
			},
			want: []string{`a 0 0644 0:0 "data"`, `b 1 0644 0:0 => a`, `c 1 0644 0:0 => a`},
		},
		{
			name: "hard link target deleted becomes file",
			layers: [][]ent{
				{file("a", "data").withMode(0o600).withOwner(5, 6), hard("b", "a")},
				{wh(".wh.a")},
			},
			want: []string{`b 0 0600 5:6 "data"`},
		},
		{
			name: "hard link target replaced keeps old content",
			layers: [][]ent{
				{file("a", "old"), hard("b", "a"), hard("c", "b")},
				{file("a", "new")},
			},
			want: []string{`b 0 0644 0:0 "old"`, `c 1 0644 0:0 => b`, `a 0 0644 0:0 "new"`},
		},
		{
			name: "duplicate entries last wins",
			layers: [][]ent{
				{file("a", "1"), dir("d").withMode(0o700), file("a", "2"), dir("d")},
			},
			want: []string{`d/ 5 0755 0:0`, `a 0 0644 0:0 "2"`},
		},
		{
			name: "dot slash prefixes and trailing slashes",
			layers: [][]ent{
				{dir("./"), dir("./a/"), file("./a/b", "b"), file("/c", "c"), dir("a//d/")},
			},
			want: []string{`a/ 5 0755 0:0`, `a/b 0 0644 0:0 "b"`, `c 0 0644 0:0 "c"`, `a/d/ 5 0755 0:0`},
		},
		{
			name:   "implicit parents",
			layers: [][]ent{{file("x/y/z", "z")}},
			want:   []string{`x/ 5 0755 0:0`, `x/y/ 5 0755 0:0`, `x/y/z 0 0644 0:0 "z"`},
		},
		{
			name: "xattrs kept",
			layers: [][]ent{{
				dir("d").withXattr("user.dir", "1"),
				file("d/f", "f").withXattr("user.foo", "bar").withXattr("security.capability", "\x01\x02"),
			}},
			want: []string{
				`d/ 5 0755 0:0 [user.dir=1]`,
				"d/f 0 0644 0:0 \"f\" [security.capability=\x01\x02,user.foo=bar]",
			},
		},
		{
			name: "mode owner and special files kept",
			layers: [][]ent{{
				dir("tmp").withMode(0o1777),
				file("bin/su", "su").withMode(0o4755).withOwner(1000, 1001),
				{name: "dev/null", typ: tar.TypeChar, mode: 0o666, major: 1, minor: 3},
				{name: "run/fifo", typ: tar.TypeFifo, mode: 0o600},
			}},
			want: []string{
				`tmp/ 5 1777 0:0`,
				`bin/ 5 0755 0:0`,
				`bin/su 0 4755 1000:1001 "su"`,
				`dev/ 5 0755 0:0`,
				`dev/null 3 0666 0:0 1,3`,
				`run/ 5 0755 0:0`,
				`run/fifo 6 0600 0:0`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var layers [][]byte
			for _, l := range tt.layers {
				layers = append(layers, mkTar(t, l...))
			}
			out, err := flatten(t, layers...)
			if err != nil {
				t.Fatalf("Flatten: %v", err)
			}
			got := listTar(t, out)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Flatten entries:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestFlattenHeader checks PAX output and fields the table does not show.
func TestFlattenHeader(t *testing.T) {
	e := file("f", "x").withOwner(7, 8)
	l := mkTar(t, e)
	// Give the entry names and an mtime with sub-second precision.
	tr := tar.NewReader(bytes.NewReader(l))
	h, _ := tr.Next()
	h.Uname, h.Gname = "user", "group"
	h.ModTime = testTime.Add(123456789)
	h.Format = tar.FormatPAX
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(h)
	io.WriteString(tw, "x")
	tw.Close()

	out, err := flatten(t, buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	got, err := tar.NewReader(bytes.NewReader(out)).Next()
	if err != nil {
		t.Fatal(err)
	}
	if got.Uname != "user" || got.Gname != "group" || !got.ModTime.Equal(h.ModTime) || got.Format != tar.FormatPAX {
		t.Errorf("header = %+v, want uname/gname kept, mtime %v, PAX", got, h.ModTime)
	}
}

func TestFlattenEmpty(t *testing.T) {
	out, err := flatten(t, mkTar(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := listTar(t, out); len(got) != 0 {
		t.Errorf("entries = %q, want none", got)
	}
}

// TestFlattenChangedLayer: an Opener that returns different bytes on the
// second pass is reported, not silently mixed.
func TestFlattenChangedLayer(t *testing.T) {
	first, second := mkTar(t, file("a", "1")), mkTar(t, file("b", "1"))
	calls := 0
	open := func(context.Context) (io.ReadCloser, error) {
		calls++
		if calls == 1 {
			return io.NopCloser(bytes.NewReader(first)), nil
		}
		return io.NopCloser(bytes.NewReader(second)), nil
	}
	err := Flatten(context.Background(), []Opener{open}, io.Discard)
	if !errors.Is(err, ErrBadLayer) {
		t.Fatalf("err = %v, want ErrBadLayer", err)
	}
	t.Log(err)
}

func TestFlattenCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := Flatten(ctx, openers(mkTar(t, file("a", "1"))), io.Discard)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
