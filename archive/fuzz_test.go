package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/imgx/imgx/internal/testutil"
)

// FuzzLoad feeds arbitrary bytes to the stream reader: it must not panic, and a rejected
// input must leave the store as it was. Seeds are small valid archives of each format;
// the corpus lives in testdata/fuzz/FuzzLoad.
func FuzzLoad(f *testing.F) {
	im := testImage{tags: []string{"f:1"}, layers: [][]byte{layer(f, "a")}}
	f.Add(legacyDocker(f, im))
	f.Add(ociArchive(f, false, im))
	f.Add(ociArchive(f, true, im))
	f.Add(gz(f, legacyDocker(f, im)))
	// Small forms of the hostile streams of hostile_test.go, to start from the limits.
	f.Add(longSymlinks(f, 3, 5000))
	f.Add(paxChain(f, 3, 2000))
	f.Add(mkTar(f, []ent{{name: strings.Repeat("a/", 70) + "x", typ: tar.TypeSymlink, link: "y"}}))
	f.Add(mkTar(f, []ent{{name: "index.json", body: []byte(`{"manifests":` + emptyObjects(3000) + `}`)}}))
	s := newStore(f)
	if _, err := Load(context.Background(), s, bytes.NewReader(ociArchive(f, false, testImage{tags: []string{"base:1"}, layers: [][]byte{layer(f, "base")}})), LoadOptions{}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		before := testutil.VisibleTreeHash(t, s.Root())
		res, err := Load(context.Background(), s, bytes.NewReader(data), LoadOptions{RatioFloor: 1 << 20, MaxSize: 64 << 20})
		if err != nil {
			if testutil.VisibleTreeHash(t, s.Root()) != before {
				t.Fatalf("rejected input (%v) changed the store", err)
			}
			return
		}
		if len(res.Images) == 0 {
			t.Fatal("load succeeded without images")
		}
	})
}

// FuzzPeek checks that format detection never panics or consumes input.
func FuzzPeek(f *testing.F) {
	f.Add(legacyDocker(f, testImage{tags: []string{"f:1"}, layers: [][]byte{layer(f, "a")}}))
	f.Add([]byte{0x1f, 0x8b, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		br := newPeekReader(data)
		if _, err := Peek(br); err != nil {
			return
		}
		if br.Buffered() != min(len(data), br.Size()) {
			t.Fatalf("Peek consumed input")
		}
	})
}
