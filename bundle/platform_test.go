package bundle

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/ref"
)

// A multi-platform image keeps its index by default; --platform keeps one platform's
// manifest and only its blobs.
func TestSavePlatform(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	amd := addImage(t, s, "tmp:amd", layerSpec{seed: 11, size: 64 << 10, random: true})
	arm := addImage(t, s, "tmp:arm", layerSpec{seed: 12, size: 64 << 10, random: true})
	amd.Platform = &ocispec.Platform{OS: "linux", Architecture: "amd64"}
	arm.Platform = &ocispec.Platform{OS: "linux", Architecture: "arm64"}
	ix := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{amd, arm}}
	ix.SchemaVersion = 2
	ib, _ := json.Marshal(ix)
	tx, _ := s.Begin(ctx)
	id, err := tx.PutBytes(ctx, ocispec.MediaTypeImageIndex, ib)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := ref.ParseNamed("multi:1")
	tx.Tag(r, id)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	whole, err := Save(ctx, s, []string{"multi:1"}, &bytes.Buffer{}, SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := whole.Manifest.Images[0].Descriptor.Digest; got != id.Digest {
		t.Errorf("default save carries %s, want the index %s", got, id.Digest)
	}
	if n := len(whole.Manifest.Blobs); n != 7 { // index + 2×(manifest, config, layer)
		t.Errorf("default save carries %d blobs, want 7", n)
	}

	var buf bytes.Buffer
	one, err := Save(ctx, s, []string{"multi:1"}, &buf, SaveOptions{Platform: &ocispec.Platform{OS: "linux", Architecture: "arm64"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := one.Manifest.Images[0].Descriptor.Digest; got != arm.Digest {
		t.Errorf("--platform linux/arm64 carries %s, want the arm64 manifest %s", got, arm.Digest)
	}
	for _, b := range one.Manifest.Blobs {
		if b.Digest == amd.Digest {
			t.Error("--platform linux/arm64 carries the amd64 manifest")
		}
	}
	if n := len(one.Manifest.Blobs); n != 3 {
		t.Errorf("--platform save carries %d blobs, want 3", n)
	}
	// It loads elsewhere under the same tag, as the arm64 image.
	dst := newStore(t)
	if _, err := Load(ctx, dst, &buf, LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, err := dst.Resolve(ctx, "multi:1"); err != nil || got.Desc.Digest != arm.Digest {
		t.Errorf("loaded multi:1 = %v, %v", got.Desc.Digest, err)
	}
	if _, err := Save(ctx, s, []string{"multi:1"}, &bytes.Buffer{}, SaveOptions{Platform: &ocispec.Platform{OS: "linux", Architecture: "s390x"}}); err == nil {
		t.Error("a platform the index lacks was accepted")
	}
}
