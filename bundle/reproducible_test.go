package bundle

import (
	"bytes"
	"context"
	"crypto"
	"testing"
	"time"
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
