package rootfs

import (
	"context"
	"slices"
	"testing"
)

func changeStrings(cs []Change) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.String())
	}
	return out
}

func TestDiff(t *testing.T) {
	base := []ent{
		dir("etc"), file("etc/same", "s"), file("etc/content", "aaaa"), file("etc/mode", "m"),
		file("etc/owner", "o"), file("etc/time", "t"), sym("etc/link", "a"), file("etc/gone", "g"),
		dir("old"), dir("old/sub"), file("old/sub/x", "x"),
		dir("d2f"), file("d2f/a", "a"), dir("d2f/b"), file("d2f/b/c", "c"),
		file("f2d", "f"), file("hl", "s"), dir("quiet"), file("quiet/x", "x"),
	}
	tests := []struct {
		name  string
		upper []ent
		want  []string
	}{
		{"nothing", nil, nil},
		{"rewrite identical content", []ent{file("etc/same", "s")}, nil},
		{"hard link to identical file", []ent{hard("etc/same", "hl")}, nil},
		{
			name: "metadata and content",
			upper: []ent{
				file("etc/content", "bbbb"), file("etc/mode", "m").withMode(0o600),
				file("etc/owner", "o").withOwner(1, 1), file("etc/time", "t").withTime(testTime.Add(1)),
				sym("etc/link", "b"), wh("etc/.wh.gone"), file("etc/new", "n"),
			},
			want: []string{"C /etc/content", "D /etc/gone", "C /etc/link", "C /etc/mode", "A /etc/new",
				"C /etc/owner", "C /etc/time"},
		},
		{"deleted dir is one D", []ent{wh(".wh.old")}, []string{"D /old"}},
		{
			name:  "added dir lists descendants",
			upper: []ent{dir("new"), dir("new/a"), file("new/a/b", "b")},
			want:  []string{"A /new", "A /new/a", "A /new/a/b"},
		},
		{
			name:  "dir replaced by file",
			upper: []ent{file("d2f", "now a file")},
			want:  []string{"C /d2f", "D /d2f/a", "D /d2f/b"},
		},
		{
			name:  "file replaced by dir",
			upper: []ent{dir("f2d"), file("f2d/x", "x")},
			want:  []string{"C /f2d", "A /f2d/x"},
		},
		{
			name:  "dir changed only by its own metadata",
			upper: []ent{file("quiet/y", "y"), dir("old").withMode(0o700)},
			want:  []string{"C /old", "A /quiet/y"},
		},
		{
			name:  "opaque dir",
			upper: []ent{wh("old/.wh..wh..opq"), file("old/n", "n")},
			want:  []string{"A /old/n", "D /old/sub"},
		},
	}
	lower := mkTar(t, base...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			upper := mkTar(t, tt.upper...)
			want := tt.want

			got, err := Diff(context.Background(), openers(lower), openers(lower, upper))
			if err != nil {
				t.Fatalf("Diff: %v", err)
			}
			if g := changeStrings(got); !slices.Equal(g, want) {
				t.Errorf("Diff:\n got %q\nwant %q", g, want)
			}

			got, err = LayerDiff(context.Background(), openers(lower, upper, mkTar(t, file("later", "l"))), 1)
			if err != nil {
				t.Fatalf("LayerDiff: %v", err)
			}
			if g := changeStrings(got); !slices.Equal(g, want) {
				t.Errorf("LayerDiff:\n got %q\nwant %q", g, want)
			}
		})
	}
}

// TestDiffHashesContent: two independent images whose files differ only in
// content of the same size.
func TestDiffHashesContent(t *testing.T) {
	a := mkTar(t, file("x", "aaaa"), file("y", "same"), hard("z", "x"))
	b := mkTar(t, file("y", "same"), file("x", "bbbb"), hard("z", "x"))
	got, err := Diff(context.Background(), openers(a), openers(b))
	if err != nil {
		t.Fatal(err)
	}
	if g, want := changeStrings(got), []string{"C /x", "C /z"}; !slices.Equal(g, want) {
		t.Errorf("Diff = %q, want %q", g, want)
	}
}

func TestLayerDiffFirstLayer(t *testing.T) {
	l := mkTar(t, file("a/b", "b"), sym("c", "a"))
	got, err := LayerDiff(context.Background(), openers(l), 0)
	if err != nil {
		t.Fatal(err)
	}
	if g, want := changeStrings(got), []string{"A /a", "A /a/b", "A /c"}; !slices.Equal(g, want) {
		t.Errorf("LayerDiff = %q, want %q", g, want)
	}
	if _, err := LayerDiff(context.Background(), openers(l), 1); err == nil {
		t.Error("LayerDiff out of range: no error")
	}
}
