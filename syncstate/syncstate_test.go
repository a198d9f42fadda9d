package syncstate

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"

	"github.com/imgx/imgx/bundle"
	"github.com/imgx/imgx/image"
	"github.com/imgx/imgx/ref"
	"github.com/imgx/imgx/store"
)

func importImage(t *testing.T, s *store.Store, name, content string) digest.Digest {
	t.Helper()
	ctx := context.Background()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "f", Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg})
	tw.Write([]byte(content))
	tw.Close()
	tx, err := s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Discard()
	desc, err := image.Import(ctx, tx, &buf, image.ImportOptions{Changes: func(c *v1.Config) error { c.Labels = map[string]string{"n": name}; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := ref.ParseNamed(name)
	tx.Tag(r, desc)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return desc.Digest
}

func save(t *testing.T, s *store.Store, st *State, refs ...string) (*bundle.SaveResult, []byte) {
	t.Helper()
	res, err := bundle.Save(context.Background(), s, refs, io.Discard, bundle.SaveOptions{Since: st.Base()})
	if err != nil {
		t.Fatal(err)
	}
	mb, err := res.Manifest.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if digest.FromBytes(mb) != res.ManifestDigest {
		t.Fatal("Manifest.Marshal does not reproduce the written manifest")
	}
	return res, mb
}

func TestNightlyCycle(t *testing.T) {
	s, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "sent.json")
	st, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Base() != nil || st.Unchanged(nil, nil) {
		t.Fatal("empty state must make a full bundle and never be unchanged")
	}
	app := importImage(t, s, "app:stable", "v1")
	tags := map[string]digest.Digest{"docker.io/library/app:stable": app}

	_, mb1 := save(t, s, st, "app:stable")
	if err := st.Record(mb1, "night1.imgx", tags, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := st.Save(path); err != nil {
		t.Fatal(err)
	}
	st, err = Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Last == nil || st.Last.Name != "night1.imgx" || st.Last.Digest != digest.FromBytes(mb1) {
		t.Fatalf("Last = %+v", st.Last)
	}
	var blobs []digest.Digest
	for d := range st.Shipped {
		blobs = append(blobs, d)
	}
	if len(blobs) != 3 {
		t.Fatalf("shipped %d blobs, want 3 (manifest, config, layer)", len(blobs))
	}
	if !st.Unchanged(tags, blobs) {
		t.Error("same tags and blobs reported as changed")
	}
	if st.Unchanged(map[string]digest.Digest{"docker.io/library/app:stable": digest.FromString("other")}, blobs) {
		t.Error("moved tag reported as unchanged")
	}
	if st.Unchanged(tags, append(blobs, digest.FromString("new"))) {
		t.Error("new blob reported as unchanged")
	}

	// Night two: a new image; the delta omits everything night one carried.
	web := importImage(t, s, "web:stable", "v1-web")
	res2, mb2 := save(t, s, st, "app:stable", "web:stable")
	if res2.Manifest.Base == nil || res2.Manifest.Base.Digest != digest.FromBytes(mb1) {
		t.Fatalf("delta base = %+v", res2.Manifest.Base)
	}
	// Deltas always carry the (small) manifests and configs; layers shipped before are
	// left out and expected instead.
	for _, b := range res2.Manifest.Blobs {
		if _, ok := st.Shipped[b.Digest]; ok && strings.Contains(b.MediaType, "layer") {
			t.Errorf("delta carries layer %s, already shipped", b.Digest)
		}
	}
	if len(res2.Manifest.Expects) != 1 {
		t.Errorf("delta expects %d blobs, want app's layer", len(res2.Manifest.Expects))
	}
	tags["docker.io/library/web:stable"] = web
	if err := st.Record(mb2, "night2.imgx", tags, time.Now()); err != nil {
		t.Fatal(err)
	}
	if st.Last.Sequence != res2.Manifest.Sequence || len(st.Last.Chain) != 1 {
		t.Errorf("Last after night two = %+v", st.Last)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"garbage.json": "{not json",
		"version.json": `{"version": 7}`,
		"blob.json":    `{"version": 1, "shipped": {"sha256:zz": 1}}`,
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o644)
		if _, err := Load(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("Load(%s) = %v, want an error naming the file", name, err)
		}
	}
}
