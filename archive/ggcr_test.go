package archive

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Archives written by go-containerregistry (crane) load, and crane reads imgx's.
func TestGGCRInterop(t *testing.T) {
	ctx := context.Background()
	img, err := random.Image(2048, 3)
	if err != nil {
		t.Fatal(err)
	}
	cfgName, _ := img.ConfigName()
	manDigest, _ := img.Digest()
	tag, _ := name.NewTag("example.com/rand:1")

	// crane's docker-archive: sha256:HEX config, HEX.tar.gz layers (gzip, so the diff_ids
	// are checked after decompression).
	var buf bytes.Buffer
	if err := tarball.Write(tag, img, &buf); err != nil {
		t.Fatal(err)
	}
	s := newStore(t)
	res, err := Load(ctx, s, &buf, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Images) != 1 || res.Images[0].Name != "example.com/rand:1" || res.Images[0].ID.String() != cfgName.String() {
		t.Fatalf("loaded %+v, want ID %s", res.Images, cfgName)
	}
	checkStore(t, s)

	// An OCI layout directory written by ggcr, with an index holding two images.
	dir := t.TempDir()
	img2, _ := random.Image(1024, 1)
	ix := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Annotations: map[string]string{"org.opencontainers.image.ref.name": "example.com/rand:1"}}},
		mutate.IndexAddendum{Add: img2})
	writeLayout(t, dir, ix)
	s2 := newStore(t)
	res, err = LoadDir(ctx, s2, dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Images) != 2 || res.Images[0].Digest.String() != manDigest.String() {
		t.Fatalf("loaded %+v", res.Images)
	}

	// crane reads imgx's docker-archive and sees the same image.
	var out bytes.Buffer
	if _, err := Save(ctx, s, &out, resolveAll(t, s, "example.com/rand:1"), SaveOptions{Format: FormatDockerArchive}); err != nil {
		t.Fatal(err)
	}
	data := out.Bytes()
	back, err := tarball.Image(func() (ioReadCloser, error) { return nopCloser(bytes.NewReader(data)), nil }, &tag)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := back.ConfigName(); got != cfgName {
		t.Errorf("crane sees config %s, want %s", got, cfgName)
	}
	ls, err := back.Layers()
	if err != nil || len(ls) != 3 {
		t.Fatalf("crane sees %d layers: %v", len(ls), err)
	}
	for i, l := range ls {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		d, _, err := v1.SHA256(rc)
		rc.Close()
		want, _ := img.Layers()
		wd, _ := want[i].DiffID()
		if err != nil || d != wd {
			t.Errorf("layer %d: crane reads diff %s, want %s (%v)", i, d, wd, err)
		}
	}
}

// writeLayout writes an OCI layout of a ggcr index by hand (ggcr's layout package needs a
// module this repository does not depend on).
func writeLayout(t *testing.T, dir string, ix v1.ImageIndex) {
	put := func(b []byte) {
		os.MkdirAll(filepath.Join(dir, "blobs/sha256"), 0o755)
		if err := os.WriteFile(filepath.Join(dir, blobName(sha(b))), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, _ := ix.RawManifest()
	im, _ := ix.IndexManifest()
	for _, d := range im.Manifests {
		img, err := ix.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		m, _ := img.RawManifest()
		c, _ := img.RawConfigFile()
		put(m)
		put(c)
		ls, _ := img.Layers()
		for _, l := range ls {
			rc, _ := l.Compressed()
			b, _ := io.ReadAll(rc)
			put(b)
		}
	}
	os.WriteFile(filepath.Join(dir, "index.json"), raw, 0o644)
	os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
}
