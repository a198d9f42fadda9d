package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/layerdelta"
	"github.com/imgx/imgx/ref"
	"github.com/imgx/imgx/store"
)

// appTar is an application layer of 40 incompressible files; version v rewrites files
// 3 and 17 (a rebuild with two changed assets).
func appTar(t testing.TB, v int) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for i := range 40 {
		seed := uint64(i)
		if i == 3 || i == 17 {
			seed += uint64(1000 * v)
		}
		r := rand.New(rand.NewPCG(seed, 2))
		data := make([]byte, 8<<10)
		for j := range data {
			data[j] = byte(r.Uint32())
		}
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("app/asset-%02d", i), Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data)),
			ModTime: time.Unix(1700000000+int64(86400*v), 0), Format: tar.FormatPAX})
		tw.Write(data)
	}
	tw.Close()
	return b.Bytes()
}

// addTarImage stores an image of the given layer tars, gzipped as docker does (Go's
// compress/gzip, default level), and tags it.
func addTarImage(t testing.TB, s *store.Store, tag string, tars ...[]byte) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	tx, err := s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Discard()
	var cfg ocispec.Image
	cfg.OS, cfg.Architecture, cfg.RootFS.Type = "linux", "amd64", "layers"
	var lds []ocispec.Descriptor
	for _, raw := range tars {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, digest.FromBytes(raw))
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(raw)
		zw.Close()
		d, err := tx.PutBytes(ctx, ocispec.MediaTypeImageLayerGzip, gz.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		lds = append(lds, d)
	}
	cb, _ := json.Marshal(cfg)
	cd, err := tx.PutBytes(ctx, ocispec.MediaTypeImageConfig, cb)
	if err != nil {
		t.Fatal(err)
	}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cd, Layers: lds}
	m.SchemaVersion = 2
	mb, _ := json.Marshal(m)
	md, err := tx.PutBytes(ctx, ocispec.MediaTypeImageManifest, mb)
	if err != nil {
		t.Fatal(err)
	}
	r, err := ref.ParseNamed(tag)
	if err != nil {
		t.Fatal(err)
	}
	tx.Tag(r, md)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return md
}

func TestLayerRecipesDelta(t *testing.T) {
	ctx := context.Background()
	src := newStore(t)
	dir := t.TempDir()
	osTar := layerTar(t, layerSpec{seed: 1, size: 100 << 10, random: true})
	addTarImage(t, src, "example/app:nightly", osTar, appTar(t, 1))
	full := save(t, src, []string{"example/app:nightly"}, SaveOptions{})
	fullPath := filepath.Join(dir, "night-1.imgx")
	os.WriteFile(fullPath, full, 0o644)
	base, err := ReadBase(ctx, fullPath)
	if err != nil {
		t.Fatal(err)
	}

	md2 := addTarImage(t, src, "example/app:nightly", osTar, appTar(t, 2))
	var buf bytes.Buffer
	res, err := Save(ctx, src, []string{"example/app:nightly"}, &buf, SaveOptions{Since: base, LayerRecipes: true, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	delta := buf.Bytes()
	m := res.Manifest
	if m.FormatVersion != FormatVersionRecipes || len(m.Recipes) != 1 || len(res.Layers) != 1 || !res.Layers[0].Recipe {
		t.Fatalf("format %s, %d recipes, decisions %+v", m.FormatVersion, len(m.Recipes), res.Layers)
	}
	layer := m.Recipes[0].Layer
	if res.Layers[0].RecipeSize*4 > layer.Size {
		t.Fatalf("recipe of %d bytes for a %d-byte layer with 2 of 40 files changed", res.Layers[0].RecipeSize, layer.Size)
	}
	// Saving again writes the same bytes (an interrupted upload resumes).
	var again bytes.Buffer
	if _, err := Save(ctx, src, []string{"example/app:nightly"}, &again, SaveOptions{Since: base, LayerRecipes: true}); err != nil || !bytes.Equal(again.Bytes(), delta) {
		t.Fatalf("second save differs (err %v)", err)
	}
	if _, err := Verify(ctx, bytes.NewReader(delta), VerifyOptions{Policy: policyNone}); err != nil {
		t.Fatalf("Verify: %v", err)
	}

	dst := newStore(t)
	if _, err := Load(ctx, dst, bytes.NewReader(delta), LoadOptions{}); !errors.Is(err, ErrMissingBase) || !strings.Contains(err.Error(), "night-1.imgx") {
		t.Fatalf("delta before its base: %v", err)
	}
	if _, err := Load(ctx, dst, bytes.NewReader(full), LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	lr, err := Load(ctx, dst, bytes.NewReader(delta), LoadOptions{})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if lr.LayersRebuilt != 1 {
		t.Fatalf("rebuilt %d layers", lr.LayersRebuilt)
	}
	got, err := dst.Resolve(ctx, "example/app:nightly")
	if err != nil || got.Desc.Digest != md2.Digest {
		t.Fatalf("receiver has %v (%v), sender %s", got.Desc.Digest, err, md2.Digest)
	}
	if !dst.Has(layer.Digest) {
		t.Fatal("rebuilt layer not in the store")
	}
	// An older imgx (format 1 only) refuses it by version; this one refuses unknown features.
	if _, err := ParseManifest(bytes.Replace(manifestBytes(t, delta), []byte(`"layer-recipes"`), []byte(`"chunked-layers"`), 1)); !errors.Is(err, ErrVersion) || !strings.Contains(err.Error(), "chunked-layers") {
		t.Fatalf("unknown required feature: %v", err)
	}
}

func manifestBytes(t testing.TB, bundle []byte) []byte {
	t.Helper()
	h, err := ReadHead(context.Background(), bytes.NewReader(bundle))
	if err != nil {
		t.Fatal(err)
	}
	return h.ManifestBytes
}

// A recipe blob changed in transit (one byte flipped; unsigned bundle, so only the
// digests stand guard) is refused and its layer is not committed. Recipes that decode
// but rebuild other bytes are layerdelta's TestHostileRecipe cases.
func TestHostileLayerRecipeTampered(t *testing.T) {
	ctx := context.Background()
	src := newStore(t)
	osTar := layerTar(t, layerSpec{seed: 1, size: 100 << 10, random: true})
	addTarImage(t, src, "example/app:nightly", osTar, appTar(t, 1))
	full := save(t, src, []string{"example/app:nightly"}, SaveOptions{Compression: None})
	fullPath := filepath.Join(t.TempDir(), "night-1.imgx")
	os.WriteFile(fullPath, full, 0o644)
	base, _ := ReadBase(ctx, fullPath)
	addTarImage(t, src, "example/app:nightly", osTar, appTar(t, 2))
	delta := save(t, src, []string{"example/app:nightly"}, SaveOptions{Since: base, LayerRecipes: true, Compression: None})
	h, _ := ReadHead(ctx, bytes.NewReader(delta))
	rdesc := h.Manifest.Recipes[0].Recipe
	i := bytes.LastIndex(delta, []byte(rdesc.Digest.Encoded())) // the entry name, then the header, then the data
	at := (i/512+1)*512 + int(rdesc.Size)/2
	bad := bytes.Clone(delta)
	bad[at] ^= 0xff

	dst := newStore(t)
	if _, err := Load(ctx, dst, bytes.NewReader(full), LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := Load(ctx, dst, bytes.NewReader(bad), LoadOptions{})
	if err == nil {
		t.Fatal("tampered recipe loaded")
	}
	if dst.Has(h.Manifest.Recipes[0].Layer.Digest) {
		t.Fatalf("the layer was committed despite %v", err)
	}
	t.Logf("refused: %v", err)
	if !errors.Is(err, ErrDigest) && !errors.Is(err, layerdelta.ErrMalformed) && !errors.Is(err, layerdelta.ErrMismatch) {
		t.Fatalf("error %v is neither a digest nor a recipe error", err)
	}
}
