package rootfs

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"path"
	"strings"
	"testing"
)

func fuzzSeeds(t testing.TB) [][]byte {
	return [][]byte{
		mkTar(t, dir("a"), file("a/x", "1"), wh("a/.wh.y"), wh(".wh.z"), file("z", "z")),
		mkTar(t, dir("d"), file("d/x", "x"), wh("d/.wh..wh..opq"), file("d/y", "y"), wh(".wh.d")),
		mkTar(t, file("a", "data"), hard("b", "a"), hard("c", "b"), file("a", "new"), sym("s", "../x")),
		mkTar(t, file("./a/b", "b"), dir("a//c/"), file("/abs", "x"), file("a/../r", "r")),
		mkTar(t, file("f", "x").withXattr("user.k", "v"), ent{name: "dev/n", typ: tar.TypeChar, major: 1, minor: 3}),
		mkTar(t, sym("evil", "/etc"), file("evil/passwd", "x")),
		mkTar(t, file("../x", "x")),
		[]byte("not a tar at all"),
	}
}

// FuzzFlatten feeds one layer tar (also stacked on itself) to Flatten, and
// when it succeeds checks the invariants of the output: a readable tar, each
// path once, no whiteouts, no escaping names, parents before children and
// hard link targets before links. Diff and LayerDiff must not panic either.
func FuzzFlatten(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		for _, layers := range [][]Opener{openers(data), openers(data, data)} {
			// A sparse entry can claim terabytes of zeros in a few bytes;
			// that is legitimate streaming output but not for a fuzz run.
			out := &limitedBuffer{max: 4 << 20}
			if err := Flatten(ctx, layers, out); err != nil {
				if errors.Is(err, errTooBig) {
					return
				}
				continue
			}
			checkFlattened(t, out.Bytes())
		}
		Diff(ctx, openers(data), openers(data, data))
		LayerDiff(ctx, openers(data, data), 1)
	})
}

func checkFlattened(t *testing.T, b []byte) {
	t.Helper()
	seen := map[string]byte{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("output is not a readable tar: %v", err)
		}
		if _, err := io.Copy(io.Discard, tr); err != nil {
			t.Fatalf("output content: %v", err)
		}
		name := strings.TrimSuffix(h.Name, "/")
		clean, err := CheckEntryName(name)
		if err != nil || clean != name || name == "." {
			t.Fatalf("output name %q not clean (%v)", h.Name, err)
		}
		if strings.HasPrefix(path.Base(name), whiteoutPrefix) {
			t.Fatalf("whiteout %q in output", name)
		}
		if _, dup := seen[name]; dup {
			t.Fatalf("%q twice in output", name)
		}
		if d := path.Dir(name); d != "." && seen[d] != tar.TypeDir {
			t.Fatalf("%q before its parent directory", name)
		}
		if h.Typeflag == tar.TypeLink {
			if typ, ok := seen[h.Linkname]; !ok || typ == tar.TypeDir {
				t.Fatalf("hard link %q to %q: target not written before", name, h.Linkname)
			}
		}
		seen[name] = h.Typeflag
	}
}

var errTooBig = errors.New("output too big")

type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.max {
		return 0, errTooBig
	}
	return b.Buffer.Write(p)
}
