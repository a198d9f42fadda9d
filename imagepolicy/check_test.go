package imagepolicy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/internal/cosigntest"
	"github.com/imgx/imgx/store"
	"github.com/imgx/imgx/verify"
)

// mapBlobs serves blobs from memory; a test may put bytes under a digest they do not
// hash to, as a hostile source could.
type mapBlobs map[digest.Digest][]byte

func (m mapBlobs) Open(_ context.Context, d digest.Digest) (io.ReadCloser, error) {
	b, ok := m[d]
	if !ok {
		return nil, fmt.Errorf("blob %s: %w", d, store.ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// artifact builds an artifact manifest over layers into blobs.
func (m mapBlobs) artifact(subject digest.Digest, kind store.ArtifactKind, layers ...cosigntest.Layer) store.Artifact {
	var lds []ocispec.Descriptor
	for _, l := range layers {
		d := ocispec.Descriptor{MediaType: l.MediaType, Digest: digest.FromBytes(l.Data), Size: int64(len(l.Data)), Annotations: l.Annotations}
		if l.Digest != "" {
			d.Digest = l.Digest
		}
		m[d.Digest] = l.Data
		lds = append(lds, d)
	}
	cfg := []byte(`{}`)
	m[digest.FromBytes(cfg)] = cfg
	mf := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Layers: lds,
		Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: 2}}
	mf.SchemaVersion = 2
	b, _ := json.Marshal(mf)
	m[digest.FromBytes(b)] = b
	return store.Artifact{Subject: subject, Kind: kind, Desc: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(b), Size: int64(len(b))}}
}

func newKey(t *testing.T) (*verify.PrivateKey, string) {
	t.Helper()
	privPEM, pubPEM, err := verify.GenerateKeyPair([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	priv, err := verify.LoadPrivateKey(privPEM, verify.StaticPassword([]byte("pw")))
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "k.pub")
	os.WriteFile(f, pubPEM, 0o644)
	return priv, f
}

func sigLayer(t *testing.T, k *verify.PrivateKey, payload []byte) cosigntest.Layer {
	return cosigntest.Layer{MediaType: MediaTypeSimpleSigning, Data: payload,
		Annotations: map[string]string{AnnotationSignature: cosigntest.Sign(t, k, payload)}}
}

func attLayer(t *testing.T, k *verify.PrivateKey, subject digest.Digest, pt string) cosigntest.Layer {
	return cosigntest.Layer{MediaType: MediaTypeDSSE, Data: cosigntest.Envelope(t, k, cosigntest.Statement(subject, pt))}
}

// TestHostileImageSignatures: each bad signature or attestation is refused with an error
// naming the image, the artifact and the reason; the good one passes and names its key.
func TestHostileImageSignatures(t *testing.T) {
	ctx := context.Background()
	good, goodPub := newKey(t)
	other, _ := newKey(t)
	img := digest.FromString("the image manifest")
	repo := "registry.example.com/team/app"
	im := Image{Name: "registry.example.com/team/app:1", Repository: repo, Digest: img}
	spdx := PredicateType("spdxjson")

	pol := &Policy{}
	if err := pol.AddKey("registry.example.com/team=" + goodPub); err != nil {
		t.Fatal(err)
	}
	pol.RequireAttestation("spdxjson")
	pol.Scopes["registry.example.com/team"].MatchRepository = true

	for _, tc := range []struct {
		name string
		arts func(b mapBlobs) []store.Artifact
		want string // "" = accepted
	}{
		{"good", func(b mapBlobs) []store.Artifact {
			return []store.Artifact{b.artifact(img, store.KindSignature, sigLayer(t, good, cosigntest.Payload(img, repo))),
				b.artifact(img, store.KindAttestation, attLayer(t, good, img, spdx))}
		}, ""},
		{"signature over another digest", func(b mapBlobs) []store.Artifact {
			return []store.Artifact{b.artifact(img, store.KindSignature, sigLayer(t, good, cosigntest.Payload(digest.FromString("other"), repo)))}
		}, "not this image's digest"},
		{"untrusted key", func(b mapBlobs) []store.Artifact {
			return []store.Artifact{b.artifact(img, store.KindSignature, sigLayer(t, other, cosigntest.Payload(img, repo)))}
		}, "no trusted key verifies it"},
		{"tampered payload", func(b mapBlobs) []store.Artifact {
			l := sigLayer(t, good, cosigntest.Payload(img, repo))
			l.Data = bytes.Replace(l.Data, []byte("cosign container"), []byte("cosign CONTAINER"), 1)
			return []store.Artifact{b.artifact(img, store.KindSignature, l)}
		}, "no trusted key verifies it"},
		{"layer digest does not match", func(b mapBlobs) []store.Artifact {
			l := sigLayer(t, good, cosigntest.Payload(img, repo))
			l.Digest = digest.FromString("what the manifest claims")
			return []store.Artifact{b.artifact(img, store.KindSignature, l)}
		}, "layer digest mismatch"},
		{"signed for another repository", func(b mapBlobs) []store.Artifact {
			return []store.Artifact{b.artifact(img, store.KindSignature, sigLayer(t, good, cosigntest.Payload(img, "registry.example.com/team/evil")))}
		}, "signed for repository registry.example.com/team/evil"},
		{"attestation for another subject", func(b mapBlobs) []store.Artifact {
			return []store.Artifact{b.artifact(img, store.KindSignature, sigLayer(t, good, cosigntest.Payload(img, repo))),
				b.artifact(img, store.KindAttestation, attLayer(t, good, digest.FromString("other"), spdx))}
		}, "about another subject"},
		{"attestation by an untrusted key", func(b mapBlobs) []store.Artifact {
			return []store.Artifact{b.artifact(img, store.KindSignature, sigLayer(t, good, cosigntest.Payload(img, repo))),
				b.artifact(img, store.KindAttestation, attLayer(t, other, img, spdx))}
		}, "no trusted key verifies the envelope"},
		{"attestation missing", func(b mapBlobs) []store.Artifact {
			return []store.Artifact{b.artifact(img, store.KindSignature, sigLayer(t, good, cosigntest.Payload(img, repo)))}
		}, "no verified attestation of predicate type https://spdx.dev/Document"},
		{"no signature", func(b mapBlobs) []store.Artifact { return nil }, "no cosign signature"},
		{"signature attached to another image", func(b mapBlobs) []store.Artifact {
			o := digest.FromString("other")
			return []store.Artifact{b.artifact(o, store.KindSignature, sigLayer(t, good, cosigntest.Payload(o, repo)))}
		}, "no cosign signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := mapBlobs{}
			res, err := pol.Check(ctx, b, []Image{im}, tc.arts(b))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused a good image: %v", err)
				}
				k, _ := verify.LoadPublicKeyFile(goodPub)
				if len(res.Signers) != 2 || len(res.Checked) != 1 {
					t.Fatalf("result %+v", res)
				}
				for _, id := range res.Signers {
					if id != k.ID() {
						t.Fatalf("signer %s, want %s", id, k.ID())
					}
				}
				return
			}
			var ie *ImageError
			if !errors.As(err, &ie) || !errors.Is(err, ErrRefused) {
				t.Fatalf("Check = %v, want an *ImageError", err)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), im.Name) {
				t.Fatalf("error %q does not name the image and %q", err, tc.want)
			}
			if !strings.Contains(tc.want, "no cosign signature") && !strings.HasPrefix(tc.want, "no verified attestation") && !strings.Contains(err.Error(), "sha256:") {
				t.Fatalf("error %q does not name the artifact", err)
			}
		})
	}

	// Images outside the policy's scopes are not checked; "*" covers them all.
	b := mapBlobs{}
	if _, err := pol.Check(ctx, b, []Image{{Name: "docker.io/library/x:1", Repository: "docker.io/library/x", Digest: img}}, nil); err != nil {
		t.Fatalf("image outside the scopes: %v", err)
	}
	all := &Policy{}
	all.AddKey("*=" + goodPub)
	if _, err := all.Check(ctx, b, []Image{{Name: "x", Digest: img}}, nil); !errors.Is(err, ErrRefused) {
		t.Fatalf("'*' scope does not cover an untagged image: %v", err)
	}
}

// TestPolicyFile reads the containers-policy.json shape and refuses what imgx would not
// check.
func TestPolicyFile(t *testing.T) {
	_, pub := newKey(t)
	dir := filepath.Dir(pub)
	write := func(s string) string {
		f := filepath.Join(dir, "policy.json")
		os.WriteFile(f, []byte(s), 0o644)
		return f
	}
	p, err := LoadFile(write(`{"default":[{"type":"reject"}],"transports":{"docker":{
	  "registry.example.com/team":[{"type":"sigstoreSigned","keyPath":"k.pub","signedIdentity":{"type":"matchRepository"},"attestations":[{"predicateType":"spdxjson"}]}],
	  "registry.example.com/public":[{"type":"insecureAcceptAnything"}]},
	  "docker-daemon":{"":[{"type":"insecureAcceptAnything"}]}}}`))
	if err != nil {
		t.Fatal(err)
	}
	r, scope := p.For("registry.example.com/team/app")
	if r == nil || scope != "registry.example.com/team" || !r.MatchRepository || len(r.Keys) != 1 || r.Attestations[0] != "https://spdx.dev/Document" {
		t.Fatalf("For(team/app) = %+v, %s", r, scope)
	}
	if r, _ := p.For("registry.example.com/public/x"); r == nil || !r.AcceptAnything {
		t.Fatalf("public scope: %+v", r)
	}
	if r, scope := p.For("docker.io/library/debian"); r == nil || !r.Reject || scope != "default" {
		t.Fatalf("default: %+v %s", r, scope)
	}
	for _, bad := range []string{
		`{"transports":{"docker":{"x/y":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"k.pub"}]}}}`,
		`{"transports":{"docker":{"x/y":[{"type":"sigstoreSigned","fulcio":{}}]}}}`,
		`{"transports":{"docker":{"x/y":[{"type":"sigstoreSigned","keyPath":"k.pub","signedIdentity":{"type":"matchExact"}}]}}}`,
		`{"transports":{"docker":{"x/y":[{"type":"sigstoreSigned"}]}}}`,
	} {
		if _, err := LoadFile(write(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

// bundleLayer wraps a DSSE envelope in a Sigstore bundle v0.3, as cosign
// --new-bundle-format stores it (a referrer's one layer).
func bundleLayer(t *testing.T, env []byte) cosigntest.Layer {
	var e map[string]any
	if err := json.Unmarshal(env, &e); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
		"verificationMaterial": map[string]any{"publicKey": map[string]string{"hint": "ignored"}}, "dsseEnvelope": e})
	return cosigntest.Layer{MediaType: "application/vnd.dev.sigstore.bundle.v0.3+json", Data: b}
}

// TestHostileSigstoreBundleReferrers: Sigstore bundle referrers count as signatures and
// attestations only when a trusted key verifies them and they name the image; with
// matchRepository a bundle signature (which names no repository) does not count.
func TestHostileSigstoreBundleReferrers(t *testing.T) {
	ctx := context.Background()
	good, goodPub := newKey(t)
	other, _ := newKey(t)
	img := digest.FromString("the image manifest")
	im := Image{Name: "registry.example.com/app:1", Repository: "registry.example.com/app", Digest: img}
	spdx := PredicateType("spdxjson")
	sign := func(k *verify.PrivateKey, subject digest.Digest, pt string) cosigntest.Layer {
		return bundleLayer(t, cosigntest.Envelope(t, k, cosigntest.Statement(subject, pt)))
	}
	for _, tc := range []struct {
		name      string
		matchRepo bool
		layers    []cosigntest.Layer
		want      string
	}{
		{"good", false, []cosigntest.Layer{sign(good, img, CosignSignPredicate), sign(good, img, spdx)}, ""},
		{"untrusted key", false, []cosigntest.Layer{sign(other, img, CosignSignPredicate), sign(good, img, spdx)}, "no trusted key verifies the envelope"},
		{"another subject", false, []cosigntest.Layer{sign(good, digest.FromString("x"), CosignSignPredicate), sign(good, img, spdx)}, "about another subject"},
		{"attestation only", false, []cosigntest.Layer{sign(good, img, spdx)}, "no cosign signature"},
		{"matchRepository", true, []cosigntest.Layer{sign(good, img, CosignSignPredicate), sign(good, img, spdx)}, "names no repository"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pol := &Policy{}
			pol.AddKey("registry.example.com=" + goodPub)
			pol.RequireAttestation("spdxjson")
			pol.Scopes["registry.example.com"].MatchRepository = tc.matchRepo
			b := mapBlobs{}
			var arts []store.Artifact
			for _, l := range tc.layers {
				arts = append(arts, b.artifact(img, store.KindReferrer, l))
			}
			_, err := pol.Check(ctx, b, []Image{im}, arts)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Check = %v, want %q", err, tc.want)
			}
		})
	}
}
