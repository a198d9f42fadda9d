package intake

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/imgx/imgx/bundle"
	"github.com/imgx/imgx/imagepolicy"
	"github.com/imgx/imgx/internal/cosigntest"
	"github.com/imgx/imgx/internal/testutil"
	"github.com/imgx/imgx/store"
	"github.com/imgx/imgx/verify"
)

func cosignKey(t *testing.T) (*verify.PrivateKey, string) {
	t.Helper()
	privPEM, pubPEM, err := verify.GenerateKeyPair([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	priv, err := verify.LoadPrivateKey(privPEM, verify.StaticPassword([]byte("pw")))
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "cosign.pub")
	os.WriteFile(f, pubPEM, 0o644)
	return priv, f
}

// TestHostileImageSignaturePolicy: a bundle whose image (under an image-signature policy)
// has a bad or no cosign signature or attestation is refused as a whole by load and by
// verify, naming the image, the artifact and the reason, and the store stays
// byte-identical; the same bundle with a good signature loads and records the signer.
func TestHostileImageSignaturePolicy(t *testing.T) {
	ctx := context.Background()
	good, goodPub := cosignKey(t)
	other, _ := cosignKey(t)
	const repo = "docker.io/example/app"
	spdx := imagepolicy.PredicateType("spdxjson")
	sig := func(k *verify.PrivateKey, subject digest.Digest, repo string) cosigntest.Layer {
		p := cosigntest.Payload(subject, repo)
		return cosigntest.Layer{MediaType: cosigntest.SimpleSigning, Data: p, Annotations: map[string]string{cosigntest.SigAnnotation: cosigntest.Sign(t, k, p)}}
	}
	att := func(k *verify.PrivateKey, subject digest.Digest) cosigntest.Layer {
		return cosigntest.Layer{MediaType: cosigntest.DSSE, Data: cosigntest.Envelope(t, k, cosigntest.Statement(subject, spdx))}
	}
	for _, tc := range []struct {
		name   string
		attach func(s *store.Store, img digest.Digest)
		want   string // "" = accepted
	}{
		{"good", func(s *store.Store, img digest.Digest) {
			cosigntest.Attach(t, s, img, store.KindSignature, sig(good, img, repo))
			cosigntest.Attach(t, s, img, store.KindAttestation, att(good, img))
		}, ""},
		{"signature over another digest", func(s *store.Store, img digest.Digest) {
			cosigntest.Attach(t, s, img, store.KindSignature, sig(good, digest.FromString("another image"), repo))
			cosigntest.Attach(t, s, img, store.KindAttestation, att(good, img))
		}, "not this image's digest"},
		{"untrusted key", func(s *store.Store, img digest.Digest) {
			cosigntest.Attach(t, s, img, store.KindSignature, sig(other, img, repo))
			cosigntest.Attach(t, s, img, store.KindAttestation, att(good, img))
		}, "no trusted key verifies it"},
		{"tampered payload", func(s *store.Store, img digest.Digest) {
			l := sig(good, img, repo)
			l.Data = bytes.Replace(l.Data, []byte(img.Encoded()[:8]), []byte("00000000"), 1)
			cosigntest.Attach(t, s, img, store.KindSignature, l)
			cosigntest.Attach(t, s, img, store.KindAttestation, att(good, img))
		}, "no trusted key verifies it"},
		{"attestation for another subject", func(s *store.Store, img digest.Digest) {
			cosigntest.Attach(t, s, img, store.KindSignature, sig(good, img, repo))
			cosigntest.Attach(t, s, img, store.KindAttestation, att(good, digest.FromString("another image")))
		}, "about another subject"},
		{"no signature", func(s *store.Store, img digest.Digest) {}, "no cosign signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			app, err := f.src.Resolve(ctx, "example/app:1")
			if err != nil {
				t.Fatal(err)
			}
			tc.attach(f.src, app.Desc.Digest)
			var b bytes.Buffer
			if _, err := bundle.Save(ctx, f.src, []string{"example/app:1"}, &b, bundle.SaveOptions{Signers: nil}); err != nil {
				t.Fatal(err)
			}
			pol := &imagepolicy.Policy{}
			if err := pol.AddKey("docker.io/example=" + goodPub); err != nil {
				t.Fatal(err)
			}
			pol.RequireAttestation("spdxjson")
			pol.Scopes["docker.io/example"].MatchRepository = true

			dst, err := store.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			before := testutil.VisibleTreeHash(t, dst.Root())
			res, err := Load(ctx, dst, Input{Name: "b.imgx", R: bytes.NewReader(b.Bytes())}, Options{Images: pol})
			_, verr := Verify(ctx, Input{Name: "b.imgx", R: bytes.NewReader(b.Bytes())}, VerifyOptions{DigestOnly: true, Images: pol})
			if tc.want == "" {
				if err != nil || verr != nil {
					t.Fatalf("good bundle refused: load %v, verify %v", err, verr)
				}
				if len(res.ImagesVerified) != 1 || res.ImagesVerified[0] != "example/app:1" {
					t.Fatalf("ImagesVerified = %v", res.ImagesVerified)
				}
				arts, _ := dst.ArtifactsOf(ctx, app.Desc)
				if len(arts) != 2 || arts[0].Signer == "" || arts[1].Signer == "" {
					t.Fatalf("stored artifacts %+v: want both with their signer", arts)
				}
				return
			}
			for _, e := range []error{err, verr} {
				if !errors.Is(e, imagepolicy.ErrRefused) || !strings.Contains(e.Error(), "example/app:1") || !strings.Contains(e.Error(), tc.want) {
					t.Errorf("refusal %v: want ErrRefused naming example/app:1 and %q", e, tc.want)
				}
			}
			if testutil.VisibleTreeHash(t, dst.Root()) != before {
				t.Fatal("a refused load changed the store")
			}
			if as, _ := dst.Artifacts(); len(as) != 0 {
				t.Fatal("a refused load stored artifacts")
			}
		})
	}
}

// TestHostileImagePolicyForeignFormat: with an image-signature policy, an archive (which
// carries no signatures imgx checks) is refused before anything is stored.
func TestHostileImagePolicyForeignFormat(t *testing.T) {
	f := newFixture(t)
	_, pub := cosignKey(t)
	pol := &imagepolicy.Policy{}
	if err := pol.AddKey("*=" + pub); err != nil {
		t.Fatal(err)
	}
	dst, _ := store.Open(t.TempDir())
	before := testutil.VisibleTreeHash(t, dst.Root())
	_, err := Load(context.Background(), dst, Input{Name: "a.tar", R: bytes.NewReader(f.ociArchive)}, Options{Images: pol})
	if !errors.Is(err, ErrUnsignedFormat) {
		t.Fatalf("oci-archive under an image policy: %v", err)
	}
	if testutil.VisibleTreeHash(t, dst.Root()) != before {
		t.Fatal("store changed")
	}
}
