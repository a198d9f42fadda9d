package bundle

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/internal/storetest"
	"github.com/imgx/imgx/internal/testutil"
	"github.com/imgx/imgx/layerdelta"
	"github.com/imgx/imgx/store"
	"github.com/imgx/imgx/verify"
)

// appTar is an application layer of 40 incompressible files; version v rewrites files
// 3 and 17 (a rebuild with two changed assets).
func appTar(t testing.TB, v int) []byte {
	t.Helper()
	return appTarIn(t, "app", v)
}

// appTarIn is appTar with its files in dir, with contents of their own.
func appTarIn(t testing.TB, dir string, v int) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for i := range 40 {
		seed := uint64(i) + uint64(len(dir))<<32
		if dir == "app" {
			seed = uint64(i)
		}
		if i == 3 || i == 17 {
			seed += uint64(1000 * v)
		}
		r := rand.New(rand.NewPCG(seed, 2))
		data := make([]byte, 8<<10)
		for j := range data {
			data[j] = byte(r.Uint32())
		}
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("%s/asset-%02d", dir, i), Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data)),
			ModTime: time.Unix(1700000000+int64(86400*v), 0), Format: tar.FormatPAX})
		tw.Write(data)
	}
	tw.Close()
	return b.Bytes()
}

// addTarImage stores an image of the given layer tars, gzipped as docker does, and tags it.
func addTarImage(t testing.TB, s *store.Store, tag string, tars ...[]byte) ocispec.Descriptor {
	return storetest.TarImage(t, s, tag, tars...)
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

// rewriteRecipe decodes a recipe blob and encodes it again with edit applied to its head.
func rewriteRecipe(t *testing.T, blob []byte, edit func(*layerdelta.Meta)) []byte {
	t.Helper()
	rd, err := layerdelta.NewReader(bytes.NewReader(blob), layerdelta.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	m := rd.Meta
	edit(&m)
	var out bytes.Buffer
	w, err := layerdelta.NewWriter(&out, m)
	if err != nil {
		t.Fatal(err)
	}
	for {
		op, err := rd.Next()
		if err != nil {
			break
		}
		if op.Copy {
			w.Copy(op.Base, op.Offset, op.N)
		} else if err := w.Literal(rd, op.N); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestHostileLayerRecipeMutations damages a recipe delta (the recipe blob, or the recipe
// and the manifest together in an unsigned bundle, as a sender or a site without keys
// would see) and checks each load fails as expected with no visible change to the store.
func TestHostileLayerRecipeMutations(t *testing.T) {
	ctx := context.Background()
	src := newStore(t)
	osTar := layerTar(t, layerSpec{seed: 1, size: 100 << 10, random: true})
	addTarImage(t, src, "example/app:nightly", osTar, appTar(t, 1))
	k1 := key(t, 1)
	trust1 := verify.Policy{Keys: []verify.PublicKey{k1.pub}}
	full := save(t, src, []string{"example/app:nightly"}, SaveOptions{Compression: None})
	fullPath := filepath.Join(t.TempDir(), "night-1.imgx")
	os.WriteFile(fullPath, full, 0o644)
	base, _ := ReadBase(ctx, fullPath)
	addTarImage(t, src, "example/app:nightly", osTar, appTar(t, 2))
	signed := save(t, src, []string{"example/app:nightly"}, SaveOptions{Since: base, LayerRecipes: true, Compression: None, Signers: []crypto.Signer{k1.priv}})
	unsigned := save(t, src, []string{"example/app:nightly"}, SaveOptions{Since: base, LayerRecipes: true, Compression: None})

	// withRecipe replaces the recipe blob of an unsigned delta and fixes the manifest.
	withRecipe := func(edit func(*layerdelta.Meta)) []byte {
		es := readEntries(t, unsigned)
		m, err := ParseManifest(es[0].data)
		if err != nil {
			t.Fatal(err)
		}
		old := m.Recipes[0].Recipe
		i := find(es, func(e entry) bool { return e.h.Name == blobPath(old.Digest) })
		nb := rewriteRecipe(t, es[i].data, edit)
		nd := ocispec.Descriptor{MediaType: old.MediaType, Digest: digest.FromBytes(nb), Size: int64(len(nb))}
		m.Recipes[0].Recipe = nd
		for j, b := range m.Blobs {
			if b.Digest == old.Digest {
				m.Blobs[j] = nd
			}
		}
		es[0].data, err = m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		es[i].data, es[i].h.Name = nb, blobPath(nd.Digest)
		return writeEntries(t, es)
	}
	es := readEntries(t, signed)
	hm, _ := ParseManifest(es[0].data)
	ri := find(es, func(e entry) bool { return e.h.Name == blobPath(hm.Recipes[0].Recipe.Digest) })
	flipped := func() []byte {
		c := readEntries(t, signed)
		c[ri].data = flipByte(c[ri].data, len(c[ri].data)/2)
		return writeEntries(t, c)
	}()
	other := digest.FromString("another layer")
	cases := []struct {
		name   string
		data   []byte
		policy verify.Policy
		want   []error // any of them; nil: any error
	}{
		{"recipe byte flipped (signed)", flipped, trust1, nil},
		{"forged compressor level", withRecipe(func(m *layerdelta.Meta) { m.Params.Level = 42 }), policyNone, []error{layerdelta.ErrParams}},
		{"unknown compressor", withRecipe(func(m *layerdelta.Meta) { m.Params.Compressor = "lz4" }), policyNone, []error{layerdelta.ErrParams}},
		{"recipe rebuilds another layer", withRecipe(func(m *layerdelta.Meta) { m.Target.Digest = other }), policyNone, []error{layerdelta.ErrMalformed}},
		{"recipe names a base the manifest does not", withRecipe(func(m *layerdelta.Meta) { m.Bases[0].Digest = other }), policyNone, []error{layerdelta.ErrMalformed}},
		// The store's own check (size, then digest) or the rebuild's, whichever sees it first.
		{"other compressor level (rebuilds other bytes)", withRecipe(func(m *layerdelta.Meta) { m.Params.Level = 1 }), policyNone, []error{ErrDigest, ErrSize, layerdelta.ErrMismatch}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dst := newStore(t)
			if _, err := Load(ctx, dst, bytes.NewReader(full), LoadOptions{}); err != nil {
				t.Fatal(err)
			}
			before := testutil.VisibleTreeHash(t, dst.Root())
			_, err := Load(ctx, dst, bytes.NewReader(c.data), LoadOptions{Policy: c.policy})
			if err == nil {
				t.Fatal("loaded")
			}
			if c.want != nil && !slices.ContainsFunc(c.want, func(w error) bool { return errors.Is(err, w) }) {
				t.Fatalf("got %v, want one of %v", err, c.want)
			}
			if after := testutil.VisibleTreeHash(t, dst.Root()); after != before {
				t.Fatalf("store changed after %v", err)
			}
		})
	}
	// The undamaged ones load.
	for _, b := range [][]byte{signed, unsigned} {
		dst := newStore(t)
		Load(ctx, dst, bytes.NewReader(full), LoadOptions{})
		if _, err := Load(ctx, dst, bytes.NewReader(b), LoadOptions{Policy: policyNone}); err != nil {
			t.Fatalf("undamaged delta: %v", err)
		}
	}
}

// indexImage stores a two-platform image (amd64, arm64), each platform an image of the
// given layer tars with the platform's name appended to every file (so their layers
// differ), under one index, and tags the index.
func indexImage(t testing.TB, s *store.Store, tag string, tars func(platform string) [][]byte) ocispec.Descriptor {
	t.Helper()
	var idx ocispec.Index
	for _, arch := range []string{"amd64", "arm64"} {
		md := addTarImage(t, s, "example/tmp:"+arch, tars(arch)...)
		md.Platform = &ocispec.Platform{OS: "linux", Architecture: arch}
		idx.Manifests = append(idx.Manifests, md)
	}
	return storetest.Index(t, s, tag, idx.Manifests...)
}

// A multi-platform image saved without --platform gets a recipe for each platform's
// rebuilt layer, over that platform's previous layer (none before: an index had no
// candidates), and the receiver ends with the sender's index.
func TestLayerRecipesMultiPlatform(t *testing.T) {
	ctx := context.Background()
	src := newStore(t)
	dir := t.TempDir()
	tars := func(v int) func(string) [][]byte {
		return func(platform string) [][]byte {
			return [][]byte{layerTar(t, layerSpec{seed: uint64(len(platform)), size: 64 << 10, random: true}), appTarIn(t, "app-"+platform, v)}
		}
	}
	indexImage(t, src, "example/multi:nightly", tars(1))
	full := save(t, src, []string{"example/multi:nightly"}, SaveOptions{})
	fullPath := filepath.Join(dir, "night-1.imgx")
	if err := os.WriteFile(fullPath, full, 0o644); err != nil {
		t.Fatal(err)
	}
	base, err := ReadBase(ctx, fullPath)
	if err != nil {
		t.Fatal(err)
	}
	want := indexImage(t, src, "example/multi:nightly", tars(2))
	var buf bytes.Buffer
	res, err := Save(ctx, src, []string{"example/multi:nightly"}, &buf, SaveOptions{Since: base, LayerRecipes: true, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Manifest.Recipes) != 2 {
		t.Fatalf("%d recipes for two platforms' rebuilt layers, decisions %+v", len(res.Manifest.Recipes), res.Layers)
	}
	dst := newStore(t)
	if _, err := Load(ctx, dst, bytes.NewReader(full), LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	lr, err := Load(ctx, dst, bytes.NewReader(buf.Bytes()), LoadOptions{})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	got, err := dst.Resolve(ctx, "example/multi:nightly")
	if err != nil || got.Desc.Digest != want.Digest || lr.LayersRebuilt != 2 {
		t.Fatalf("receiver has %v (%v, %d layers rebuilt), sender %s", got.Desc.Digest, err, lr.LayersRebuilt, want.Digest)
	}
}
