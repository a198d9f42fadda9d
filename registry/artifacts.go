package registry

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/imgx/imgx/oci"
	"github.com/imgx/imgx/store"
)

// Bounds on the artifacts a pull takes along. A registry can attach thousands of
// signatures and attestations to one image; past these bounds the pull fails naming the
// bound (--exclude-extras pulls the image alone) rather than take some and leave others.
const (
	// DefaultMaxArtifacts bounds the artifacts pulled with one image (all its subjects).
	DefaultMaxArtifacts = 64
	// DefaultMaxArtifactBytes bounds their total size: manifests, configs and layers.
	DefaultMaxArtifactBytes = 256 << 20
	// maxArtifactManifest bounds one artifact manifest (cosign's are under 2 KiB).
	maxArtifactManifest = 1 << 20
)

// ArtifactLimits bounds the artifacts pulled with one image; zero fields take the defaults.
type ArtifactLimits struct {
	Count int
	Bytes int64
}

func (l ArtifactLimits) count() int {
	if l.Count <= 0 {
		return DefaultMaxArtifacts
	}
	return l.Count
}

func (l ArtifactLimits) bytes() int64 {
	if l.Bytes <= 0 {
		return DefaultMaxArtifactBytes
	}
	return l.Bytes
}

// ErrTooManyArtifacts marks a pull refused because the registry attaches more artifacts
// (or bigger ones) than the limits allow.
var ErrTooManyArtifacts = errors.New("too many or too large artifacts")

// PulledArtifact describes one artifact a pull stored.
type PulledArtifact struct {
	Kind    store.ArtifactKind `json:"kind"`
	Digest  digest.Digest      `json:"digest"`
	Subject digest.Digest      `json:"subject"`
	Source  string             `json:"source"` // "tag" (cosign's sha256-<hex>.sig…) or "referrers"
	Size    int64              `json:"size"`   // manifest, config and layers
}

// foundArtifact is an artifact manifest fetched from the registry, to be stored.
type foundArtifact struct {
	manifestBlob
	art    store.Artifact
	source string
	m      *ocispec.Manifest
}

// candidate is a manifest a lookup found, before the bounds and the subject check.
type candidate struct {
	kind   store.ArtifactKind
	source string
	desc   ocispec.Descriptor
	data   []byte
}

// findArtifacts fetches the artifacts attached to each subject in repo: cosign's tags
// (sha256-<hex>.sig, .att, .sbom) and OCI 1.1 referrers (the referrers API, or its tag
// schema sha256-<hex> where the registry lacks it). A referrer must name the subject
// it was listed for; an artifact listed twice is kept once. The lookups (four per
// subject, most of them answered "not found") run jobs at a time, so that a pull pays
// about one round trip for them; the results are then taken in a fixed order (per
// subject: .sig, .att, .sbom, referrers), which the bounds apply to.
func findArtifacts(ctx context.Context, puller *remote.Puller, ropts []remote.Option, repo name.Repository, subjects []digest.Digest, lim ArtifactLimits, jobs int) ([]foundArtifact, error) {
	tagKinds := []store.ArtifactKind{store.KindSignature, store.KindAttestation, store.KindSBOM}
	slots := make([][]candidate, len(subjects)*(len(tagKinds)+1))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(jobs, 1))
	for si, sub := range subjects {
		for ki, kind := range tagKinds {
			slot := &slots[si*(len(tagKinds)+1)+ki]
			g.Go(func() error {
				got, err := puller.Get(gctx, repo.Tag(store.CosignTag(sub, kind)))
				if err != nil {
					if errors.Is(classify(err), ErrNotFound) {
						return nil
					}
					return fmt.Errorf("looking for the %s of %s (tag %s): %w (pull with --exclude-extras to leave artifacts out)", kind, sub, store.CosignTag(sub, kind), classify(err))
				}
				if got.Size > maxArtifactManifest {
					return fmt.Errorf("%s of %s: manifest of %d bytes: %w", kind, sub, got.Size, ErrTooManyArtifacts)
				}
				desc := ocispec.Descriptor{MediaType: string(got.MediaType), Digest: digest.Digest(got.Digest.String()), Size: got.Size}
				*slot = []candidate{{kind, "tag", desc, got.Manifest}}
				return nil
			})
		}
		slot := &slots[si*(len(tagKinds)+1)+len(tagKinds)]
		g.Go(func() error {
			ix, err := remote.Referrers(repo.Digest(sub.String()), append(ropts, remote.WithContext(gctx))...)
			if err != nil {
				if errors.Is(classify(err), ErrNotFound) {
					return nil
				}
				return fmt.Errorf("looking for the referrers of %s: %w (pull with --exclude-extras to leave artifacts out)", sub, classify(err))
			}
			im, err := ix.IndexManifest()
			if err != nil {
				return fmt.Errorf("referrers of %s: %w", sub, err)
			}
			if len(im.Manifests) > lim.count() {
				return fmt.Errorf("referrers of %s: %d listed, more than %d: %w (pull with --exclude-extras to leave them out)", sub, len(im.Manifests), lim.count(), ErrTooManyArtifacts)
			}
			for _, r := range im.Manifests {
				desc := ocispec.Descriptor{MediaType: string(r.MediaType), Digest: digest.Digest(r.Digest.String()), Size: r.Size}
				if desc.Size < 0 || desc.Size > maxArtifactManifest {
					return fmt.Errorf("referrer %s of %s: manifest of %d bytes: %w", desc.Digest, sub, desc.Size, ErrTooManyArtifacts)
				}
				data, err := fetchManifest(gctx, puller, repo, desc)
				if err != nil {
					return fmt.Errorf("referrer of %s: %w", sub, err)
				}
				if digest.FromBytes(data) != desc.Digest || int64(len(data)) != desc.Size {
					return fmt.Errorf("referrer %s of %s: the registry served other bytes", desc.Digest, sub)
				}
				*slot = append(*slot, candidate{store.KindReferrer, "referrers", desc, data})
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}

	var out []foundArtifact
	var total int64
	seen := map[string]bool{}
	for i, cs := range slots {
		sub := subjects[i/(len(tagKinds)+1)]
		for _, c := range cs {
			key := sub.String() + c.desc.Digest.String()
			if seen[key] {
				continue // a referrer also under a cosign tag
			}
			seen[key] = true
			if !oci.IsManifest(c.desc.MediaType) {
				return nil, fmt.Errorf("%s %s of %s: media type %q: %w (an artifact must be an image manifest)", c.kind, c.desc.Digest, sub, c.desc.MediaType, ErrUnsupported)
			}
			m, err := oci.ParseManifest(c.data)
			if err != nil {
				return nil, fmt.Errorf("%s %s of %s: %w", c.kind, c.desc.Digest, sub, err)
			}
			if c.kind == store.KindReferrer && (m.Subject == nil || m.Subject.Digest != sub) {
				return nil, fmt.Errorf("referrer %s listed for %s names another subject", c.desc.Digest, sub)
			}
			size := c.desc.Size
			for _, d := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
				if err := d.Digest.Validate(); err != nil || d.Size < 0 {
					return nil, fmt.Errorf("%s %s of %s: blob %q: invalid descriptor", c.kind, c.desc.Digest, sub, d.Digest)
				}
				size += d.Size
			}
			total += size
			if len(out)+1 > lim.count() || total > lim.bytes() {
				return nil, fmt.Errorf("artifacts of %s: more than %d artifacts or %d bytes: %w (pull with --exclude-extras to leave them out)",
					sub, lim.count(), lim.bytes(), ErrTooManyArtifacts)
			}
			out = append(out, foundArtifact{manifestBlob{c.desc, c.data}, store.Artifact{Subject: sub, Kind: c.kind, Desc: c.desc}, c.source, m})
		}
	}
	return out, nil
}

// PushedArtifact is an artifact pushed with its image.
type PushedArtifact struct {
	Kind    store.ArtifactKind `json:"kind"`
	Digest  digest.Digest      `json:"digest"`
	Subject digest.Digest      `json:"subject"`
	Tag     string             `json:"tag,omitempty"` // cosign's sha256-<hex>.sig…; "" for a referrer (pushed by digest)
}

// PushArtifacts pushes the artifacts the store links to top (or to what it reaches) into
// repo, after the image: cosign's kinds under cosign's tag (sha256-<hex>.sig, .att,
// .sbom), where cosign verify and verify-attestation look for them; OCI referrers by
// digest, which go-containerregistry also records in the referrers tag fallback
// (sha256-<hex>) on a registry without the referrers API. A .sig tag already in repo is
// replaced by the store's (cosign keeps all of an image's signatures in that one
// manifest, and the store's came from the source registry).
func (p *Pusher) PushArtifacts(ctx context.Context, top ocispec.Descriptor, repo name.Repository) ([]PushedArtifact, error) {
	arts, err := p.s.ArtifactsOf(ctx, top)
	if err != nil {
		return nil, fmt.Errorf("artifacts: %w", err)
	}
	out := []PushedArtifact{}
	for _, a := range arts {
		r, err := p.open(ctx, a.Desc)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", a.Kind, a.Desc.Digest, err)
		}
		var t remote.Taggable
		switch {
		case oci.IsManifest(a.Desc.MediaType):
			if t, err = r.image(); err != nil {
				return nil, fmt.Errorf("%s %s: %w", a.Kind, a.Desc.Digest, err)
			}
		case oci.IsIndex(a.Desc.MediaType):
			t = storeIndex{r}
		default:
			return nil, fmt.Errorf("%s %s: media type %q: %w", a.Kind, a.Desc.Digest, a.Desc.MediaType, ErrUnsupported)
		}
		pa := PushedArtifact{Kind: a.Kind, Digest: a.Desc.Digest, Subject: a.Subject, Tag: store.CosignTag(a.Subject, a.Kind)}
		var dst name.Reference = repo.Digest(a.Desc.Digest.String())
		if pa.Tag != "" {
			dst = repo.Tag(pa.Tag)
		}
		if err := p.pusher.Push(ctx, dst, t); err != nil {
			return nil, fmt.Errorf("%s %s (%s): %w", a.Kind, a.Desc.Digest, dst, classify(err))
		}
		out = append(out, pa)
	}
	return out, nil
}
