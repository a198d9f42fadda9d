package imagepolicy

import (
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/dsse"
	"github.com/sigstore/sigstore/pkg/signature/payload"

	"github.com/imgx/imgx/oci"
	"github.com/imgx/imgx/store"
)

// Media types and annotations cosign writes.
const (
	MediaTypeSimpleSigning = "application/vnd.dev.cosign.simplesigning.v1+json"
	MediaTypeDSSE          = "application/vnd.dsse.envelope.v1+json"
	AnnotationSignature    = "dev.cosignproject.cosign/signature"
	inTotoPayloadType      = "application/vnd.in-toto+json"
	// maxArtifactBlob bounds a signature payload, an attestation envelope or an artifact
	// manifest read into memory (an SBOM attestation is rarely above a few MiB).
	maxArtifactBlob = 16 << 20
	maxArtifactMeta = 1 << 20
)

// Blobs reads the blobs of the images and artifacts under check; a *store.Tx (staged
// blobs) or a *store.Store does. The checker re-hashes what it reads.
type Blobs interface {
	Open(ctx context.Context, d digest.Digest) (io.ReadCloser, error)
}

// Image is an image to check: its manifest or index digest, the repository it will be
// stored under ("registry.example.com/team/app"; "" for an untagged image) and a name
// for messages.
type Image struct {
	Name       string
	Repository string
	Digest     digest.Digest
}

// ImageError is a refusal: which image, which artifact (if one was looked at) and why.
type ImageError struct {
	Image    string
	Artifact string // "signature sha256:…", or "" when no artifact was there to check
	Reason   string
}

func (e *ImageError) Error() string {
	s := "image " + e.Image
	if e.Artifact != "" {
		s += ": " + e.Artifact
	}
	return s + ": " + e.Reason
}

func (e *ImageError) Unwrap() error { return ErrRefused }

// Result says what verified: per artifact manifest digest, the key ID that verified it,
// and the images the policy covered.
type Result struct {
	Signers map[digest.Digest]string
	Checked []string
}

// Check applies the policy to images, whose artifacts are arts (all artifacts of the
// input; each image is matched by subject digest). It returns an error joining one
// *ImageError per refused image; the caller must then refuse the whole input.
func (p *Policy) Check(ctx context.Context, blobs Blobs, images []Image, arts []store.Artifact) (*Result, error) {
	res := &Result{Signers: map[digest.Digest]string{}}
	var errs []error
	for _, im := range images {
		req, scope := p.For(im.Repository)
		if req == nil || req.AcceptAnything {
			continue
		}
		res.Checked = append(res.Checked, im.Name)
		if req.Reject {
			errs = append(errs, &ImageError{Image: im.Name, Reason: fmt.Sprintf("the policy rejects it (scope %s)", scope)})
			continue
		}
		if err := checkImage(ctx, blobs, im, req, arts, res); err != nil {
			errs = append(errs, err)
		}
	}
	return res, errors.Join(errs...)
}

func checkImage(ctx context.Context, blobs Blobs, im Image, req *Requirement, arts []store.Artifact, res *Result) error {
	var sigs, atts, refs []store.Artifact
	for _, a := range arts {
		if a.Subject != im.Digest {
			continue
		}
		switch a.Kind {
		case store.KindSignature:
			sigs = append(sigs, a)
		case store.KindAttestation:
			atts = append(atts, a)
		case store.KindReferrer:
			refs = append(refs, a)
		}
	}
	// Sigstore bundles stored as referrers (cosign --new-bundle-format, cosign v3): each
	// verified one is a signature or an attestation by its statement's predicate type.
	type bundled struct {
		a        store.Artifact
		signer   string
		predType string
	}
	var bundles []bundled
	var reasons []string
	for _, a := range refs {
		id, pt, err := checkSigstoreBundle(ctx, blobs, im, req, a)
		switch {
		case errors.Is(err, errNotBundle):
		case err != nil:
			reasons = append(reasons, fmt.Sprintf("referrer %s: %v", a.Desc.Digest, err))
		default:
			bundles = append(bundles, bundled{a, id, pt})
		}
	}
	ok := false
	for _, b := range bundles {
		switch {
		case b.predType != CosignSignPredicate:
		case req.MatchRepository:
			// Its statement names the digest only: no repository to match, so it cannot
			// satisfy a policy that asks for one.
			reasons = append(reasons, fmt.Sprintf("referrer %s: a Sigstore bundle signature names no repository, and the policy requires the signed identity to match it", b.a.Desc.Digest))
		default:
			res.Signers[b.a.Desc.Digest] = b.signer
			ok = true
		}
	}
	if len(sigs) == 0 && !ok && len(reasons) == 0 {
		return &ImageError{Image: im.Name, Reason: fmt.Sprintf("no cosign signature of %s travels with it, and the policy requires one", im.Digest)}
	}
	for _, a := range sigs {
		id, err := checkSignature(ctx, blobs, im, req, a)
		if err != nil {
			reasons = append(reasons, fmt.Sprintf("signature %s: %v", a.Desc.Digest, err))
			continue
		}
		res.Signers[a.Desc.Digest] = id
		ok = true
	}
	if !ok {
		if len(reasons) == 1 {
			art, reason, _ := strings.Cut(reasons[0], ": ")
			return &ImageError{Image: im.Name, Artifact: art, Reason: reason}
		}
		return &ImageError{Image: im.Name, Reason: "no signature satisfies the policy: " + strings.Join(reasons, "; ")}
	}
	for _, pt := range req.Attestations {
		var why []string
		found := false
		for _, b := range bundles {
			if b.predType == pt {
				res.Signers[b.a.Desc.Digest] = b.signer
				found = true
				break
			}
		}
		for _, a := range atts {
			if found {
				break
			}
			id, err := checkAttestation(ctx, blobs, im, req, a, pt)
			if err != nil {
				why = append(why, fmt.Sprintf("attestation %s: %v", a.Desc.Digest, err))
				continue
			}
			res.Signers[a.Desc.Digest] = id
			found = true
			break
		}
		if !found {
			reason := fmt.Sprintf("no verified attestation of predicate type %s", pt)
			if len(why) > 0 {
				reason += ": " + strings.Join(why, "; ")
			}
			return &ImageError{Image: im.Name, Reason: reason}
		}
	}
	return nil
}

// CosignSignPredicate is the predicate type of the in-toto statement cosign signs for an
// image signature in the Sigstore bundle format.
const CosignSignPredicate = "https://sigstore.dev/cosign/sign/v1"

// errNotBundle marks a referrer that is not a Sigstore bundle (an SBOM, say).
var errNotBundle = errors.New("not a Sigstore bundle")

// sigstoreBundle is the part of a Sigstore bundle (v0.1 to v0.3) the check reads: its
// DSSE envelope. A bundle's key hint and any certificate or tlog entry are not trusted:
// the keys come from the policy, and the check is offline.
type sigstoreBundle struct {
	MediaType    string `json:"mediaType"`
	DSSEEnvelope *struct {
		Payload     string `json:"payload"`
		PayloadType string `json:"payloadType"`
		Signatures  []struct {
			Sig   string `json:"sig"`
			KeyID string `json:"keyid"`
		} `json:"signatures"`
	} `json:"dsseEnvelope"`
}

// checkSigstoreBundle verifies a referrer holding a Sigstore bundle with a DSSE envelope
// (what cosign writes with --new-bundle-format and by default from v3): a trusted key
// verifies the envelope, and the in-toto statement names the image's digest. It returns
// the key ID and the statement's predicate type (CosignSignPredicate for a signature).
func checkSigstoreBundle(ctx context.Context, blobs Blobs, im Image, req *Requirement, a store.Artifact) (string, string, error) {
	m, err := readArtifact(ctx, blobs, a)
	if err != nil {
		return "", "", err
	}
	var layer *ocispec.Descriptor
	for i, l := range m.Layers {
		if strings.HasPrefix(l.MediaType, "application/vnd.dev.sigstore.bundle") {
			layer = &m.Layers[i]
			break
		}
	}
	if layer == nil {
		return "", "", errNotBundle
	}
	data, err := readBlob(ctx, blobs, *layer, maxArtifactBlob)
	if err != nil {
		return "", "", err
	}
	var b sigstoreBundle
	if err := json.Unmarshal(data, &b); err != nil {
		return "", "", fmt.Errorf("sigstore bundle does not parse: %w", err)
	}
	if b.DSSEEnvelope == nil {
		return "", "", errors.New("sigstore bundle without a DSSE envelope (a message signature does not sign an image)")
	}
	env, _ := json.Marshal(map[string]any{"payloadType": b.DSSEEnvelope.PayloadType, "payload": b.DSSEEnvelope.Payload, "signatures": b.DSSEEnvelope.Signatures})
	st, signer, err := verifyStatement(req, env)
	if err != nil {
		return "", "", err
	}
	if err := st.names(im.Digest); err != nil {
		return "", "", err
	}
	return signer, st.PredicateType, nil
}

// verifyStatement verifies a DSSE envelope with the requirement's keys and decodes its
// in-toto statement.
func verifyStatement(req *Requirement, env []byte) (*statement, string, error) {
	vs, ids, err := verifiers(req)
	if err != nil {
		return nil, "", err
	}
	for i, v := range vs {
		var body []byte
		dv := dsse.WrapVerifier(v, dsse.WithExpectedPayloadType(inTotoPayloadType), dsse.WithDecodedPayload(&body))
		if dv.VerifySignature(bytes.NewReader(env), nil) != nil {
			continue
		}
		var st statement
		if err := json.Unmarshal(body, &st); err != nil {
			return nil, "", fmt.Errorf("statement does not parse: %w", err)
		}
		return &st, ids[i], nil
	}
	return nil, "", errors.New("no trusted key verifies the envelope (untrusted key or tampered statement)")
}

func (st *statement) names(d digest.Digest) error {
	for _, s := range st.Subject {
		if d.Algorithm() == digest.SHA256 && s.Digest["sha256"] == d.Encoded() {
			return nil
		}
	}
	return errors.New("its statement is about another subject, not " + d.String())
}

// readBlob reads d through blobs, at most max bytes, and checks size and digest.
func readBlob(ctx context.Context, blobs Blobs, d ocispec.Descriptor, max int64) ([]byte, error) {
	if err := d.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("blob %q: %w", d.Digest, err)
	}
	if d.Size < 0 || d.Size > max {
		return nil, fmt.Errorf("blob %s: %d bytes, more than the %d read for a signature", d.Digest, d.Size, max)
	}
	rc, err := blobs.Open(ctx, d.Digest)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, d.Size+1))
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", d.Digest, err)
	}
	if int64(len(b)) != d.Size || d.Digest.Algorithm().FromBytes(b) != d.Digest {
		return nil, fmt.Errorf("blob %s: its content does not match the digest its manifest gives (layer digest mismatch)", d.Digest)
	}
	return b, nil
}

func readArtifact(ctx context.Context, blobs Blobs, a store.Artifact) (*ocispec.Manifest, error) {
	if !oci.IsManifest(a.Desc.MediaType) {
		return nil, fmt.Errorf("media type %q is not a manifest", a.Desc.MediaType)
	}
	b, err := readBlob(ctx, blobs, a.Desc, maxArtifactMeta)
	if err != nil {
		return nil, err
	}
	return oci.ParseManifest(b)
}

// verifiers returns a sigstore verifier per trusted key.
func verifiers(req *Requirement) ([]signature.Verifier, []string, error) {
	var vs []signature.Verifier
	var ids []string
	for _, k := range req.Keys {
		v, err := signature.LoadVerifier(k.Crypto(), crypto.SHA256)
		if err != nil {
			return nil, nil, fmt.Errorf("key %s: %w", k.ID(), err)
		}
		vs = append(vs, v)
		ids = append(ids, k.ID())
	}
	return vs, ids, nil
}

// checkSignature verifies a cosign .sig artifact: some simple-signing layer whose
// signature a trusted key verifies over the payload's exact bytes, and whose payload
// names the image's digest (and repository, if asked). It returns the key ID.
func checkSignature(ctx context.Context, blobs Blobs, im Image, req *Requirement, a store.Artifact) (string, error) {
	m, err := readArtifact(ctx, blobs, a)
	if err != nil {
		return "", err
	}
	vs, ids, err := verifiers(req)
	if err != nil {
		return "", err
	}
	var why []string
	for _, l := range m.Layers {
		if l.MediaType != MediaTypeSimpleSigning {
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(l.Annotations[AnnotationSignature])
		if err != nil || len(sig) == 0 {
			why = append(why, "a layer without a usable "+AnnotationSignature+" annotation")
			continue
		}
		body, err := readBlob(ctx, blobs, l, maxArtifactBlob)
		if err != nil {
			why = append(why, err.Error())
			continue
		}
		signer := ""
		for i, v := range vs {
			if v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(body)) == nil {
				signer = ids[i]
				break
			}
		}
		if signer == "" {
			why = append(why, "no trusted key verifies it (untrusted key or tampered payload)")
			continue
		}
		var pl payload.SimpleContainerImage
		if err := json.Unmarshal(body, &pl); err != nil {
			why = append(why, "signed payload does not parse: "+err.Error())
			continue
		}
		if pl.Critical.Type != payload.CosignSignatureType {
			why = append(why, fmt.Sprintf("signed payload type %q, want %q", pl.Critical.Type, payload.CosignSignatureType))
			continue
		}
		if pl.Critical.Image.DockerManifestDigest != im.Digest.String() {
			why = append(why, fmt.Sprintf("it signs %.80s, not this image's digest %s", pl.Critical.Image.DockerManifestDigest, im.Digest))
			continue
		}
		if req.MatchRepository {
			if err := matchRepository(pl.Critical.Identity.DockerReference, im.Repository); err != nil {
				why = append(why, err.Error())
				continue
			}
		}
		return signer, nil
	}
	if len(why) == 0 {
		return "", errors.New("no simple-signing layer in it")
	}
	return "", errors.New(strings.Join(why, "; "))
}

func matchRepository(claimed, repo string) error {
	if repo == "" {
		return errors.New("the image has no repository to match the signed identity against")
	}
	r, err := name.ParseReference(claimed, name.WeakValidation)
	var got string
	if err == nil {
		got = r.Context().Name()
	} else if rr, err2 := name.NewRepository(claimed, name.WeakValidation); err2 == nil {
		got = rr.Name()
	} else {
		return fmt.Errorf("signed identity %.80q is not a repository", claimed)
	}
	want := repo
	if wr, err := name.NewRepository(repo, name.WeakValidation); err == nil {
		want = wr.Name()
	}
	if got != want {
		return fmt.Errorf("signed for repository %s, not %s", got, want)
	}
	return nil
}

// statement is the part of an in-toto statement the check reads.
type statement struct {
	Type          string `json:"_type"`
	PredicateType string `json:"predicateType"`
	Subject       []struct {
		Name   string            `json:"name"`
		Digest map[string]string `json:"digest"`
	} `json:"subject"`
}

// checkAttestation verifies a cosign .att artifact: some DSSE envelope layer a trusted key
// verifies, whose in-toto statement has predicate type pt and names the image's digest.
func checkAttestation(ctx context.Context, blobs Blobs, im Image, req *Requirement, a store.Artifact, pt string) (string, error) {
	m, err := readArtifact(ctx, blobs, a)
	if err != nil {
		return "", err
	}
	var why []string
	for _, l := range m.Layers {
		if l.MediaType != MediaTypeDSSE {
			continue
		}
		env, err := readBlob(ctx, blobs, l, maxArtifactBlob)
		if err != nil {
			why = append(why, err.Error())
			continue
		}
		st, signer, err := verifyStatement(req, env)
		if err != nil {
			why = append(why, err.Error())
			continue
		}
		if st.PredicateType != pt {
			why = append(why, fmt.Sprintf("predicate type %.80s", st.PredicateType))
			continue
		}
		if err := st.names(im.Digest); err != nil {
			why = append(why, err.Error())
			continue
		}
		return signer, nil
	}
	if len(why) == 0 {
		return "", errors.New("no DSSE envelope layer in it")
	}
	return "", errors.New(strings.Join(why, "; "))
}

func base64Decode(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }
