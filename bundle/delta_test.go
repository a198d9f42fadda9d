package bundle

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/internal/digestio"
	"github.com/imgx/imgx/internal/testutil"
)

func TestDelta(t *testing.T) {
	ctx := context.Background()
	src := sourceStore(t)
	dir := t.TempDir()
	full := save(t, src, []string{"example/app:1"}, SaveOptions{})
	fullPath := filepath.Join(dir, "release-1.imgx")
	if err := os.WriteFile(fullPath, full, 0o644); err != nil {
		t.Fatal(err)
	}
	base, err := ReadBase(ctx, fullPath)
	if err != nil {
		t.Fatal(err)
	}
	delta := save(t, src, []string{"example/app:1", "example/web:2"}, SaveOptions{Since: base})
	rd, err := openReader(bytes.NewReader(delta))
	if err != nil {
		t.Fatal(err)
	}
	m := rd.Manifest
	rd.Close()
	// app:1's three layers are expected; web:2 brings one new layer plus metadata.
	if len(m.Expects) != 3 || m.Base == nil || m.Base.Name != "release-1.imgx" || m.Sequence != 1 {
		t.Fatalf("delta: expects %d, base %+v, sequence %d", len(m.Expects), m.Base, m.Sequence)
	}
	for _, d := range m.Blobs {
		if base.Carried[d.Digest] && !strings.Contains(d.MediaType, "manifest") && !strings.Contains(d.MediaType, "config") {
			t.Fatalf("delta carries layer %s that its base carried", d.Digest)
		}
	}
	if _, err := Verify(ctx, bytes.NewReader(delta), VerifyOptions{Policy: policyNone}); err != nil {
		t.Fatalf("Verify delta: %v", err)
	}

	// Into an empty store: refused before anything is written, naming the base.
	dst := newStore(t)
	before := testutil.TreeHash(t, dst.Root())
	_, err = Load(ctx, dst, bytes.NewReader(delta), LoadOptions{})
	if !errors.Is(err, ErrMissingBase) || !strings.Contains(err.Error(), "release-1.imgx") {
		t.Fatalf("Load delta without base = %v", err)
	}
	if testutil.TreeHash(t, dst.Root()) != before {
		t.Fatal("refused delta changed the store")
	}
	if _, err := Load(ctx, dst, bytes.NewReader(full), LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(ctx, dst, bytes.NewReader(delta), LoadOptions{}); err != nil {
		t.Fatalf("Load delta after base: %v", err)
	}
	if _, err := dst.Resolve(ctx, "example/web:2"); err != nil {
		t.Fatal(err)
	}

	// A delta on the delta: the chain names both, and blobs carried by the first bundle
	// (reachable beside the second) are still left out.
	deltaPath := filepath.Join(dir, "release-2.imgx")
	os.WriteFile(deltaPath, delta, 0o644)
	base2, err := ReadBase(ctx, deltaPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(base2.Ref.Chain) != 1 || base2.Ref.Chain[0].Name != "release-1.imgx" || base2.Ref.Sequence != 1 {
		t.Fatalf("chain = %+v", base2.Ref)
	}
	addImage(t, src, "example/app:2", layerSpec{seed: 1, size: 300 << 10, random: true, gzip: true}, layerSpec{seed: 9, size: 10 << 10, gzip: true})
	d2 := save(t, src, []string{"example/app:2"}, SaveOptions{Since: base2})
	rd, _ = openReader(bytes.NewReader(d2))
	if rd.Manifest.Sequence != 2 || len(rd.Manifest.Expects) != 1 || len(rd.Manifest.Blobs) != 3 {
		t.Fatalf("second delta: sequence %d, expects %d, blobs %d", rd.Manifest.Sequence, len(rd.Manifest.Expects), len(rd.Manifest.Blobs))
	}
	rd.Close()
	if _, err := Load(ctx, dst, bytes.NewReader(d2), LoadOptions{}); err != nil {
		t.Fatalf("Load second delta: %v", err)
	}
}

func TestFlatten(t *testing.T) {
	ctx := context.Background()
	src := sourceStore(t)
	before := testutil.TreeHash(t, src.Root())
	b := save(t, src, []string{"example/app:1"}, SaveOptions{Flatten: true})
	// The flattened image exists only in the bundle: the sender's store is left exactly as
	// it was (no untagged image, no blob, no staged leftover).
	if testutil.TreeHash(t, src.Root()) != before {
		t.Error("save with Flatten changed the source store")
	}
	// Also when the save fails half way (the carrier is gone, the job is interrupted).
	if _, err := Save(ctx, src, []string{"example/app:1"}, &failAfter{n: 4096}, SaveOptions{Flatten: true}); err == nil {
		t.Fatal("save into a failing writer succeeded")
	}
	if testutil.TreeHash(t, src.Root()) != before {
		t.Error("failed save with Flatten changed the source store")
	}
	rep, err := Verify(ctx, bytes.NewReader(b), VerifyOptions{Policy: policyNone})
	if err != nil {
		t.Fatalf("Verify flattened: %v", err)
	}
	orig, _ := src.Resolve(ctx, "example/app:1")
	im := rep.Images[0]
	if im.FlattenedFrom != orig.Desc.Digest || im.Descriptor.Digest == orig.Desc.Digest || rep.LayersUnpacked != 1 {
		t.Fatalf("flattened image %+v, layers %d", im, rep.LayersUnpacked)
	}
	dst := newStore(t)
	if _, err := Load(ctx, dst, bytes.NewReader(b), LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := dst.Resolve(ctx, "example/app:1")
	if err != nil || got.Desc.Digest != im.Descriptor.Digest {
		t.Fatalf("loaded %v %v", got.Desc.Digest, err)
	}
}

// failAfter accepts n bytes, then fails every write.
type failAfter struct{ n int }

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		f.n = 0
		return 0, errors.New("carrier gone")
	}
	f.n -= len(p)
	return len(p), nil
}

// TestFlattenSecondPassChecked: the layer a flattened save writes is made again at write
// time and must hash to what the manifest pins; bytes that differ fail the read.
func TestFlattenSecondPassChecked(t *testing.T) {
	ctx := context.Background()
	src := sourceStore(t)
	app, _ := src.Resolve(ctx, "example/app:1")
	f := newFlatSource(src)
	nd, err := f.flatten(ctx, app.Desc, nil)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := f.ReadBlob(ctx, nd)
	if err != nil || digest.FromBytes(mb) != nd.Digest {
		t.Fatalf("flattened manifest: %v", err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(mb, &m); err != nil || len(m.Layers) != 1 || f.layers[m.Layers[0].Digest] == nil {
		t.Fatalf("flattened manifest %s: %v", mb, err)
	}
	layer := m.Layers[0]
	for _, tc := range []struct {
		name    string
		desc    ocispec.Descriptor
		wantErr bool
	}{
		{"as pinned", layer, false},
		{"other digest", ocispec.Descriptor{Digest: digest.FromString("other"), Size: layer.Size}, true},
	} {
		if tc.wantErr {
			f.layers[tc.desc.Digest] = f.layers[layer.Digest]
		}
		rc, err := f.Fetch(ctx, tc.desc)
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		if (err != nil) != tc.wantErr || (tc.wantErr && !errors.Is(err, digestio.ErrDigestMismatch)) {
			t.Errorf("%s: read = %v, want error %v", tc.name, err, tc.wantErr)
		}
	}
}
