package bundle

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/ref"
	"github.com/imgx/imgx/store"
)

// Saving the same images with the same key twice gives the same bytes: the creation time
// comes from the images and signatures are deterministic (RFC 6979). Upload resume and
// reproducible releases both rely on it.
func TestSaveIsReproducible(t *testing.T) {
	s := newStore(t)
	addImage(t, s, "app:1", layerSpec{seed: 1, size: 3 << 20, random: true, gzip: true}, layerSpec{seed: 2, size: 1 << 20})
	k := key(t, 1)
	var a, b bytes.Buffer
	ra, err := Save(context.Background(), s, []string{"app:1"}, &a, SaveOptions{Signers: []crypto.Signer{k.priv}})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // a wall-clock creation time would now differ
	rb, err := Save(context.Background(), s, []string{"app:1"}, &b, SaveOptions{Signers: []crypto.Signer{k.priv}})
	if err != nil {
		t.Fatal(err)
	}
	if ra.ManifestDigest != rb.ManifestDigest || !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatalf("two saves differ: %s vs %s, %d vs %d bytes", ra.ManifestDigest, rb.ManifestDigest, a.Len(), b.Len())
	}
	if got := ra.Manifest.Created; !got.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("created = %v, want the image's creation time", got)
	}
}

// Two images sharing a base layer: the bundle carries each blob once and weighs at most 2%
// more than the unique blobs (the dedup target; the overhead is tar headers, the
// bundle manifest and the layout files).
func TestDedupOverhead(t *testing.T) {
	s := newStore(t)
	base := layerSpec{seed: 7, size: 4 << 20, random: true, gzip: true}
	addImage(t, s, "app:1", base, layerSpec{seed: 8, size: 1 << 20, random: true})
	addImage(t, s, "web:1", base, layerSpec{seed: 9, size: 1 << 20, random: true})
	var buf bytes.Buffer
	res, err := Save(context.Background(), s, []string{"app:1", "web:1"}, &buf, SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var blobs int64
	seen := map[string]bool{}
	for _, d := range res.Manifest.Blobs {
		if seen[d.Digest.String()] {
			t.Errorf("blob %s twice", d.Digest)
		}
		seen[d.Digest.String()] = true
		blobs += d.Size
	}
	ratio := float64(buf.Len()) / float64(blobs)
	t.Logf("bundle %d bytes, unique blobs %d bytes: %.4f", buf.Len(), blobs, ratio)
	if ratio > 1.02 {
		t.Errorf("bundle is %.2f%% larger than its unique blobs", (ratio-1)*100)
	}
}

// addUndatedImage stores a one-layer image whose config has no creation time.
func addUndatedImage(t *testing.T, s *store.Store, tag string) {
	t.Helper()
	ctx := context.Background()
	tx, err := s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Discard()
	raw := layerTar(t, layerSpec{seed: 3, size: 64 << 10})
	ld, err := tx.PutBytes(ctx, ocispec.MediaTypeImageLayer, raw)
	if err != nil {
		t.Fatal(err)
	}
	var cfg ocispec.Image
	cfg.OS, cfg.Architecture = "linux", "amd64"
	cfg.RootFS.Type = "layers"
	cfg.RootFS.DiffIDs = []digest.Digest{digest.FromBytes(raw)}
	cb, _ := json.Marshal(cfg)
	cd, err := tx.PutBytes(ctx, ocispec.MediaTypeImageConfig, cb)
	if err != nil {
		t.Fatal(err)
	}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cd, Layers: []ocispec.Descriptor{ld}}
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
}

// Images without a creation time (scratch builds, some reproducible-build tools) must not
// make the bundle depend on the wall clock: two saves a second apart give the same bytes,
// dated SOURCE_DATE_EPOCH when set, else the Unix epoch.
func TestSaveUndatedIsReproducible(t *testing.T) {
	for _, tc := range []struct {
		name, env string
		want      time.Time
	}{
		{"epoch", "", time.Unix(0, 0).UTC()},
		{"SOURCE_DATE_EPOCH", "1700000000", time.Unix(1700000000, 0).UTC()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			addUndatedImage(t, s, "app:1")
			var a, b bytes.Buffer
			ra, err := Save(context.Background(), s, []string{"app:1"}, &a, SaveOptions{SourceDateEpoch: tc.env})
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(1100 * time.Millisecond) // a wall-clock creation time would now differ
			rb, err := Save(context.Background(), s, []string{"app:1"}, &b, SaveOptions{SourceDateEpoch: tc.env})
			if err != nil {
				t.Fatal(err)
			}
			if ra.ManifestDigest != rb.ManifestDigest || !bytes.Equal(a.Bytes(), b.Bytes()) {
				t.Fatalf("two saves differ: %s vs %s (created %v vs %v)", ra.ManifestDigest, rb.ManifestDigest, ra.Manifest.Created, rb.Manifest.Created)
			}
			if got := ra.Manifest.Created; !got.Equal(tc.want) {
				t.Errorf("created = %v, want %v", got, tc.want)
			}
		})
	}
}

// A malformed SOURCE_DATE_EPOCH is an error, as the reproducible-builds convention asks,
// rather than a silent fall back to some other date.
func TestSaveBadSourceDateEpoch(t *testing.T) {
	s := newStore(t)
	addUndatedImage(t, s, "app:1")
	_, err := Save(context.Background(), s, []string{"app:1"}, io.Discard, SaveOptions{SourceDateEpoch: "yesterday"})
	if err == nil || !strings.Contains(err.Error(), "SOURCE_DATE_EPOCH") {
		t.Fatalf("err = %v, want one naming SOURCE_DATE_EPOCH", err)
	}
}
