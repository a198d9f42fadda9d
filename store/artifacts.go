package store

import (
	"context"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Artifacts are signatures, attestations and SBOMs attached to an image: cosign's
// tag-scheme manifests (sha256-<hex>.sig, .att, .sbom) and OCI 1.1 referrers (manifests
// whose subject field names the image). The store records each as an entry of
// index.json without a tag name, annotated with the digest of its subject (the image's
// index or one of its platform manifests) and its kind:
//
//	{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:…", "size": 557,
//	 "annotations": {"io.imgx.artifact.subject": "sha256:…", "io.imgx.artifact.kind": "signature"}}
//
// skopeo and umoci look images up by org.opencontainers.image.ref.name, which artifact
// entries do not have, so they still read the store as an OCI layout; the artifacts'
// blobs are ordinary blobs. [Store.Entries] leaves artifact entries out: they are not
// images. An artifact lives as long as its subject: garbage collection ([Store.Prune],
// and [Store.Remove] with prune) keeps an artifact whose subject a kept image reaches,
// with everything the artifact reaches, and removes the others (an artifact of an
// artifact, such as a signature of an attestation, follows its own subject).
const (
	AnnotationArtifactSubject = "io.imgx.artifact.subject"
	AnnotationArtifactKind    = "io.imgx.artifact.kind"
	// AnnotationArtifactSigner holds the key ID (sha256:<hex> of the public key) whose
	// signature in this artifact a policy verified when it was loaded, if any.
	AnnotationArtifactSigner = "io.imgx.artifact.signer"
)

// ArtifactKind says what an artifact is.
type ArtifactKind string

// Artifact kinds. The first three are cosign's tag suffixes; a referrer is an OCI 1.1
// manifest with a subject field (its artifactType says more: a Sigstore bundle, an SBOM).
const (
	KindSignature   ArtifactKind = "signature"   // cosign sha256-<hex>.sig
	KindAttestation ArtifactKind = "attestation" // cosign sha256-<hex>.att
	KindSBOM        ArtifactKind = "sbom"        // cosign sha256-<hex>.sbom
	KindReferrer    ArtifactKind = "referrer"    // OCI 1.1 manifest with a subject
)

// Valid reports whether k is one of the known kinds.
func (k ArtifactKind) Valid() bool {
	switch k {
	case KindSignature, KindAttestation, KindSBOM, KindReferrer:
		return true
	}
	return false
}

// TagSuffix is the cosign tag suffix of the kind (".sig"), or "" for a referrer.
func (k ArtifactKind) TagSuffix() string {
	switch k {
	case KindSignature:
		return ".sig"
	case KindAttestation:
		return ".att"
	case KindSBOM:
		return ".sbom"
	}
	return ""
}

// CosignTag is the tag cosign gives the artifact of kind k attached to subject
// ("sha256-<hex>.sig"), or "" for a referrer.
func CosignTag(subject digest.Digest, k ArtifactKind) string {
	if k.TagSuffix() == "" {
		return ""
	}
	return subject.Algorithm().String() + "-" + subject.Encoded() + k.TagSuffix()
}

// Artifact is a manifest attached to an image.
type Artifact struct {
	Subject digest.Digest      `json:"subject"` // the manifest or index it is attached to
	Kind    ArtifactKind       `json:"kind"`
	Desc    ocispec.Descriptor `json:"descriptor"`       // the artifact's manifest (or index)
	Signer  string             `json:"signer,omitempty"` // key ID a policy verified it with, if any
}

// artifactOf reads an index.json entry as an artifact; ok is false for an image entry.
func artifactOf(d ocispec.Descriptor) (Artifact, bool) {
	sub, ok := d.Annotations[AnnotationArtifactSubject]
	if !ok {
		return Artifact{}, false
	}
	desc := d
	desc.Annotations = nil
	return Artifact{Subject: digest.Digest(sub), Kind: ArtifactKind(d.Annotations[AnnotationArtifactKind]),
		Signer: d.Annotations[AnnotationArtifactSigner], Desc: desc}, true
}

func isArtifactEntry(d ocispec.Descriptor) bool {
	_, ok := d.Annotations[AnnotationArtifactSubject]
	return ok
}

func (a Artifact) entry() ocispec.Descriptor {
	d := ocispec.Descriptor{MediaType: a.Desc.MediaType, Digest: a.Desc.Digest, Size: a.Desc.Size,
		Annotations: map[string]string{AnnotationArtifactSubject: a.Subject.String(), AnnotationArtifactKind: string(a.Kind)}}
	if a.Signer != "" {
		d.Annotations[AnnotationArtifactSigner] = a.Signer
	}
	return d
}

// label names the artifact in messages.
func (a Artifact) label() string {
	return fmt.Sprintf("%s %s of %s", a.Kind, a.Desc.Digest, a.Subject)
}

// Artifacts lists every artifact entry of the store, in index order.
func (s *Store) Artifacts() ([]Artifact, error) {
	ix, err := s.Index()
	if err != nil {
		return nil, err
	}
	out := []Artifact{}
	for _, d := range ix.Manifests {
		if a, ok := artifactOf(d); ok {
			out = append(out, a)
		}
	}
	return out, nil
}

// ArtifactsOf returns the artifacts attached to top or to anything top reaches (the
// platform manifests of an index), and to those artifacts in turn, in index order.
func (s *Store) ArtifactsOf(ctx context.Context, top ocispec.Descriptor) ([]Artifact, error) {
	all, err := s.Artifacts()
	if err != nil || len(all) == 0 {
		return []Artifact{}, err
	}
	reach := map[digest.Digest]bool{}
	err = s.Walk(ctx, []ocispec.Descriptor{top}, func(d ocispec.Descriptor) error {
		reach[d.Digest] = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	return attached(all, reach), nil
}

// attached returns the artifacts whose subject is in reach, adding each kept artifact's
// own digest to reach so that artifacts of artifacts follow (a fixed point: a chain is
// short, and each pass adds at least one artifact or ends).
func attached(all []Artifact, reach map[digest.Digest]bool) []Artifact {
	keep := make([]bool, len(all))
	for changed := true; changed; {
		changed = false
		for i, a := range all {
			if !keep[i] && reach[a.Subject] {
				keep[i], changed = true, true
				reach[a.Desc.Digest] = true
			}
		}
	}
	out := []Artifact{}
	for i, a := range all {
		if keep[i] {
			out = append(out, a)
		}
	}
	return out
}

// AddArtifact records on commit that a (a manifest or index staged or committed, with
// everything it reaches) is attached to a.Subject. Commit checks that the artifact is
// complete, as for a tagged image; an artifact already recorded is not added twice.
func (tx *Tx) AddArtifact(a Artifact) error {
	if !a.Kind.Valid() {
		return fmt.Errorf("artifact %s: unknown kind %q", a.Desc.Digest, a.Kind)
	}
	if err := a.Subject.Validate(); err != nil {
		return fmt.Errorf("artifact %s: subject %q: %w", a.Desc.Digest, a.Subject, err)
	}
	tx.mu.Lock()
	tx.artifacts = append(tx.artifacts, a)
	tx.mu.Unlock()
	return nil
}

// addArtifacts adds the artifact entries of as to ix, once each (same digest, subject
// and kind).
func addArtifacts(ix *ocispec.Index, as []Artifact) {
	type key struct {
		d, sub digest.Digest
		k      ArtifactKind
	}
	have := map[key]bool{}
	for _, d := range ix.Manifests {
		if a, ok := artifactOf(d); ok {
			have[key{a.Desc.Digest, a.Subject, a.Kind}] = true
		}
	}
	for _, a := range as {
		k := key{a.Desc.Digest, a.Subject, a.Kind}
		if have[k] && a.Signer != "" { // verified now: record who signed
			for i, d := range ix.Manifests {
				if b, ok := artifactOf(d); ok && b.Desc.Digest == a.Desc.Digest && b.Subject == a.Subject && b.Kind == a.Kind {
					ix.Manifests[i] = a.entry()
				}
			}
		}
		if !have[k] {
			have[k] = true
			ix.Manifests = append(ix.Manifests, a.entry())
		}
	}
}

// splitEntries separates image entries from artifact entries.
func splitEntries(ds []ocispec.Descriptor) (images []ocispec.Descriptor, arts []Artifact) {
	for _, d := range ds {
		if a, ok := artifactOf(d); ok {
			arts = append(arts, a)
			continue
		}
		images = append(images, d)
	}
	return images, arts
}

// keptArtifacts returns the artifacts of all whose subject reach holds (see attached),
// as index entries, and adds what they reach to reach by walking them. Anything it
// cannot follow is an error wrapping ErrIncomplete.
func (s *Store) keptArtifacts(ctx context.Context, all []Artifact, reach map[digest.Digest]bool) ([]ocispec.Descriptor, error) {
	if len(all) == 0 {
		return nil, nil
	}
	subjects := map[digest.Digest]bool{}
	for d := range reach {
		subjects[d] = true
	}
	kept := attached(all, subjects)
	out := make([]ocispec.Descriptor, 0, len(kept))
	for _, a := range kept {
		err := s.Walk(ctx, []ocispec.Descriptor{a.Desc}, func(d ocispec.Descriptor) error {
			reach[d.Digest] = true
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w: %w", a.label(), ErrIncomplete, err)
		}
		out = append(out, a.entry())
	}
	return out, nil
}
