package bundle

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"strings"
	"testing"

	"github.com/imgx/imgx/internal/testutil"
	"github.com/imgx/imgx/verify"
)

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	src := sourceStore(t)
	for _, c := range []Compression{Zstd, None} {
		t.Run(string(c), func(t *testing.T) {
			b := save(t, src, []string{"example/app:1", "example/web:2"}, SaveOptions{Compression: c})
			rep, err := Verify(ctx, bytes.NewReader(b), VerifyOptions{Policy: verify.Policy{}})
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if rep.LayersUnpacked != 4 || rep.BlobsChecked != 4+2+2 {
				t.Fatalf("verify checked %d blobs, unpacked %d layers; want 8, 4", rep.BlobsChecked, rep.LayersUnpacked)
			}
			if rep.Signature.Warning == "" {
				t.Fatalf("unsigned bundle without trusted keys: want a warning")
			}
			dst := newStore(t)
			res, err := Load(ctx, dst, bytes.NewReader(b), LoadOptions{})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if res.BlobsWritten != 8 || res.BlobsSkipped != 0 {
				t.Fatalf("written %d skipped %d, want 8 0", res.BlobsWritten, res.BlobsSkipped)
			}
			for _, name := range []string{"example/app:1", "example/web:2"} {
				a, err := src.Resolve(ctx, name)
				if err != nil {
					t.Fatal(err)
				}
				b, err := dst.Resolve(ctx, name)
				if err != nil {
					t.Fatalf("after load: %v", err)
				}
				if a.Desc.Digest != b.Desc.Digest {
					t.Fatalf("%s: digest %s after load, %s before", name, b.Desc.Digest, a.Desc.Digest)
				}
			}
			// Loading again writes nothing new and still succeeds.
			before := testutil.TreeHash(t, dst.Root())
			res, err = Load(ctx, dst, bytes.NewReader(b), LoadOptions{})
			if err != nil || res.BlobsWritten != 0 || res.BlobsSkipped != 8 {
				t.Fatalf("second load: %v, written %d skipped %d", err, res.BlobsWritten, res.BlobsSkipped)
			}
			if after := testutil.TreeHash(t, dst.Root()); after != before {
				t.Fatalf("second load changed the store")
			}
		})
	}
}

func TestDedupAndOrder(t *testing.T) {
	src := sourceStore(t)
	b := save(t, src, []string{"example/app:1", "example/web:2", "example/app:1"}, SaveOptions{Compression: None})
	names := tarEntries(t, b)
	want := []string{ManifestName, "oci-layout", "index.json", "manifest.json"}
	if strings.Join(names[:4], ",") != strings.Join(want, ",") {
		t.Fatalf("entries start %v, want %v", names[:4], want)
	}
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			t.Fatalf("entry %s appears twice", n)
		}
		seen[n] = true
	}
	if len(names) != 4+8 {
		t.Fatalf("%d entries, want 12: %v", len(names), names)
	}
	rd, err := openReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	m := rd.Manifest
	// manifests, then configs, then layers
	kinds := ""
	for _, d := range m.Blobs {
		switch {
		case strings.Contains(d.MediaType, "manifest"):
			kinds += "m"
		case strings.Contains(d.MediaType, "config"):
			kinds += "c"
		default:
			kinds += "l"
		}
	}
	if kinds != "mmccllll" {
		t.Fatalf("blob order %s, want mmccllll", kinds)
	}
}

func TestSignatures(t *testing.T) {
	ctx := context.Background()
	src := sourceStore(t)
	k1, k2, k3 := key(t, 1), key(t, 2), key(t, 3)
	for _, c := range []Compression{Zstd, None} {
		t.Run(string(c), func(t *testing.T) {
			b := save(t, src, []string{"example/app:1"}, SaveOptions{Compression: c, Signers: []crypto.Signer{k1.priv}})
			one := verify.Policy{Keys: []verify.PublicKey{k1.pub}}
			if _, err := Verify(ctx, bytes.NewReader(b), VerifyOptions{Policy: one}); err != nil {
				t.Fatalf("Verify with the signing key: %v", err)
			}
			// Untrusted key: refused before anything is stored.
			dst := newStore(t)
			before := testutil.TreeHash(t, dst.Root())
			_, err := Load(ctx, dst, bytes.NewReader(b), LoadOptions{Policy: verify.Policy{Keys: []verify.PublicKey{k3.pub}}})
			if !errors.Is(err, ErrSignature) || !errors.Is(err, verify.ErrUntrustedSigner) {
				t.Fatalf("Load with untrusted key = %v, want ErrSignature/ErrUntrustedSigner", err)
			}
			if testutil.TreeHash(t, dst.Root()) != before {
				t.Fatal("refused load changed the store")
			}
			// Second approver, then a 2-of-2 policy.
			two := verify.Policy{Keys: []verify.PublicKey{k1.pub, k2.pub}, Threshold: 2}
			if _, err := Verify(ctx, bytes.NewReader(b), VerifyOptions{Policy: two}); !errors.Is(err, verify.ErrThreshold) {
				t.Fatalf("2-of-2 before second signature = %v, want ErrThreshold", err)
			}
			var out bytes.Buffer
			ids, err := AddSignatures(ctx, &out, bytes.NewReader(b), k2.priv)
			if err != nil || len(ids) != 1 || ids[0] != k2.pub.ID() {
				t.Fatalf("AddSignatures = %v, %v", ids, err)
			}
			signed := out.Bytes()
			rep, err := Verify(ctx, bytes.NewReader(signed), VerifyOptions{Policy: two})
			if err != nil {
				t.Fatalf("Verify 2-of-2: %v", err)
			}
			if len(rep.Signature.TrustedBy) != 2 {
				t.Fatalf("trusted by %v", rep.Signature.TrustedBy)
			}
			if _, err := Load(ctx, dst, bytes.NewReader(signed), LoadOptions{Policy: two}); err != nil {
				t.Fatalf("Load 2-of-2: %v", err)
			}
			if c == Zstd {
				// Only the head frame changed: the rest is byte-identical.
				n1, _ := frameLen(bytes.NewReader(b))
				n2, _ := frameLen(bytes.NewReader(signed))
				if !bytes.Equal(b[n1:], signed[n2:]) {
					t.Fatal("signing rewrote bytes after the head frame")
				}
			}
		})
	}
}

var policyNone = verify.Policy{}

func TestVersionRefused(t *testing.T) {
	m := []byte(`{"mediaType":"application/vnd.imgx.bundle.manifest.v2+json","formatVersion":"2.0"}`)
	_, err := ParseManifest(m)
	if !errors.Is(err, ErrVersion) || !strings.Contains(err.Error(), "2.0") || !strings.Contains(err.Error(), "1.x") {
		t.Fatalf("ParseManifest(v2) = %v", err)
	}
}
