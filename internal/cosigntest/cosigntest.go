// Package cosigntest makes what cosign writes with a key (simple-signing signatures and
// DSSE in-toto attestations, as sha256-<hex>.sig and .att artifacts) for tests that
// cannot run cosign itself, so that hostile variants can be built byte by byte.
package cosigntest

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/store"
)

// Media types and annotation cosign uses.
const (
	SimpleSigning = "application/vnd.dev.cosign.simplesigning.v1+json"
	DSSE          = "application/vnd.dsse.envelope.v1+json"
	SigAnnotation = "dev.cosignproject.cosign/signature"
)

// Payload is cosign's simple-signing payload for an image digest and repository.
func Payload(subject digest.Digest, repo string) []byte {
	b, _ := json.Marshal(map[string]any{
		"critical": map[string]any{
			"identity": map[string]string{"docker-reference": repo},
			"image":    map[string]string{"docker-manifest-digest": subject.String()},
			"type":     "cosign container image signature",
		},
		"optional": nil,
	})
	return b
}

// Sign signs payload with key as cosign does (ECDSA over SHA-256, base64 ASN.1 DER).
func Sign(t testing.TB, key crypto.Signer, payload []byte) string {
	t.Helper()
	h := sha256.Sum256(payload)
	sig, err := key.Sign(rand.Reader, h[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// Statement is an in-toto statement about subject with the given predicate type.
func Statement(subject digest.Digest, predicateType string) []byte {
	b, _ := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v0.1",
		"predicateType": predicateType,
		"subject":       []any{map[string]any{"name": "app", "digest": map[string]string{"sha256": subject.Encoded()}}},
		"predicate":     map[string]any{"spdxVersion": "SPDX-2.3"},
	})
	return b
}

// Envelope signs statement into a DSSE envelope as cosign attest does: the signature is
// over the pre-authentication encoding of the payload type and body.
func Envelope(t testing.TB, key crypto.Signer, statement []byte) []byte {
	t.Helper()
	const pt = "application/vnd.in-toto+json"
	pae := fmt.Appendf(nil, "DSSEv1 %d %s %d %s", len(pt), pt, len(statement), statement)
	env, _ := json.Marshal(map[string]any{
		"payloadType": pt,
		"payload":     base64.StdEncoding.EncodeToString(statement),
		"signatures":  []any{map[string]string{"keyid": "", "sig": Sign(t, key, pae)}},
	})
	return env
}

// Layer is one layer of an artifact: its media type, bytes and annotations. Digest, if
// set, is written into the manifest instead of the bytes' own (a lying manifest).
type Layer struct {
	MediaType   string
	Data        []byte
	Annotations map[string]string
	Digest      digest.Digest
}

// Attach writes an artifact manifest with layers into s, attached to subject as kind.
func Attach(t testing.TB, s *store.Store, subject digest.Digest, kind store.ArtifactKind, layers ...Layer) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	tx, err := s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Discard()
	var lds []ocispec.Descriptor
	var diffs []digest.Digest
	for _, l := range layers {
		d, err := tx.PutBytes(ctx, l.MediaType, l.Data)
		if err != nil {
			t.Fatal(err)
		}
		d.Annotations = l.Annotations
		lds = append(lds, d)
		diffs = append(diffs, d.Digest)
	}
	cfg, _ := json.Marshal(map[string]any{"architecture": "", "os": "", "config": map[string]any{},
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffs}})
	c, err := tx.PutBytes(ctx, ocispec.MediaTypeImageConfig, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range layers {
		if l.Digest != "" { // the manifest lies about the layer: store the lie's bytes too
			lds[i].Digest = l.Digest
		}
	}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: c, Layers: lds}
	m.SchemaVersion = 2
	mb, _ := json.Marshal(m)
	md, err := tx.PutBytes(ctx, ocispec.MediaTypeImageManifest, mb)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.AddArtifact(store.Artifact{Subject: subject, Kind: kind, Desc: md}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return md
}
