package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/imgx/imgx/image"
	"github.com/imgx/imgx/internal/digestio"
	"github.com/imgx/imgx/oci"
	"github.com/imgx/imgx/progress"
	"github.com/imgx/imgx/ref"
	"github.com/imgx/imgx/store"
)

// PullOptions selects what Pull keeps.
type PullOptions struct {
	Options
	// FreeSpace reports the bytes free for the store; nil means the store's filesystem.
	// Pull refuses to start a download that cannot fit.
	FreeSpace func() (int64, error)
	// Platforms, if any, keep only these platforms of a multi-platform image. One
	// platform stores that platform's manifest (digest unchanged); several store a new
	// index listing just them, which has a new digest.
	Platforms []ocispec.Platform
	// ExcludeExtras leaves out the signatures, attestations and SBOMs attached to the
	// image; by default Pull stores them too (see store.Artifact), within Limits.
	ExcludeExtras bool
	// Limits bounds the artifacts taken along.
	Limits ArtifactLimits
}

// PullResult describes what Pull stored.
type PullResult struct {
	Ref          string             `json:"ref"`            // what was asked for, normalised
	Desc         ocispec.Descriptor `json:"descriptor"`     // the manifest or index now in the store
	RemoteDigest digest.Digest      `json:"remote_digest"`  // what the registry serves for Ref
	Platforms    []string           `json:"platforms"`      // platforms stored
	Trimmed      bool               `json:"trimmed"`        // an index was cut down to Platforms
	Blobs        int                `json:"blobs"`          // config and layer blobs the image uses
	Fetched      int                `json:"fetched"`        // of which were downloaded
	FetchedBytes int64              `json:"fetched_bytes"`  // bytes downloaded for them
	Present      int                `json:"already_stored"` // blobs the store already had
	Reused       int                `json:"reused_staged"`  // of which an earlier, failed pull had verified and staged
	Artifacts    []PulledArtifact   `json:"artifacts"`      // signatures, attestations, SBOMs stored with the image
}

// manifestBlob is a manifest fetched by digest, to be stored as is.
type manifestBlob struct {
	desc ocispec.Descriptor
	data []byte
}

// Pull copies src from its registry into s, tagged as src (a digest reference is stored
// untagged). Every manifest and blob is checked against its digest before the store
// commits; blobs the store has are not downloaded. On any failure no image or tag changes,
// and the blobs that verified stay staged (invisible; prune removes them), so the re-run
// downloads only the rest (PullResult.Reused).
func Pull(ctx context.Context, s *store.Store, src string, o PullOptions) (*PullResult, error) {
	r, err := o.parse(src)
	if err != nil {
		return nil, err
	}
	tag, err := ref.Parse(src)
	if err != nil {
		return nil, err
	}
	rt, err := o.transport()
	if err != nil {
		return nil, err
	}
	defer o.closeIdle(rt)
	puller, err := remote.NewPuller(append(o.remoteOptions(rt), remote.WithContext(ctx))...)
	if err != nil {
		return nil, err
	}
	res := &PullResult{Ref: tag.String()}
	if tag.Digest() != "" {
		res.Ref = r.String()
	}

	top, err := puller.Get(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", src, classify(err))
	}
	root := ocispec.Descriptor{MediaType: string(top.MediaType), Digest: digest.Digest(top.Digest.String()), Size: top.Size}
	res.RemoteDigest = root.Digest
	var manifests []manifestBlob
	switch {
	case oci.IsIndex(root.MediaType):
		root, manifests, err = pullIndex(ctx, puller, r.Context(), root, top.Manifest, o.Platforms, res, 0)
	case oci.IsManifest(root.MediaType):
		manifests = []manifestBlob{{root, top.Manifest}}
	default:
		err = fmt.Errorf("media type %q: %w (imgx pulls OCI and Docker v2 images)", root.MediaType, ErrUnsupported)
	}
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", src, err)
	}

	// The artifacts attached to the index and to each manifest stored (not to an index
	// trimmed here: nothing can be attached to a digest the registry never served).
	var found []foundArtifact
	res.Artifacts = []PulledArtifact{}
	if !o.ExcludeExtras {
		var subjects []digest.Digest
		for _, mb := range manifests {
			if !(res.Trimmed && mb.desc.Digest == root.Digest) {
				subjects = append(subjects, mb.desc.Digest)
			}
		}
		if found, err = findArtifacts(ctx, puller, append(o.remoteOptions(rt), remote.WithContext(ctx)), r.Context(), subjects, o.Limits, o.jobs()); err != nil {
			return nil, fmt.Errorf("pull %s: %w", src, err)
		}
	}
	// Everything the images and artifacts use, once each.
	need := map[digest.Digest]ocispec.Descriptor{}
	platforms := []string{}
	for _, fa := range found {
		size := fa.desc.Size
		for _, d := range append([]ocispec.Descriptor{fa.m.Config}, fa.m.Layers...) {
			need[d.Digest] = d
			size += d.Size
		}
		res.Artifacts = append(res.Artifacts, PulledArtifact{Kind: fa.art.Kind, Digest: fa.desc.Digest, Subject: fa.art.Subject, Source: fa.source, Size: size})
	}
	for _, mb := range manifests {
		if !oci.IsManifest(mb.desc.MediaType) {
			continue
		}
		m, err := oci.ParseManifest(mb.data)
		if err != nil {
			return nil, fmt.Errorf("pull %s: manifest %s: %w", src, mb.desc.Digest, err)
		}
		for _, l := range m.Layers {
			if len(l.URLs) > 0 && !oci.IsLayer(l.MediaType) {
				return nil, fmt.Errorf("pull %s: layer %s is a foreign layer (%s): %w", src, l.Digest, l.MediaType, ErrUnsupported)
			}
		}
		for _, d := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
			if err := d.Digest.Validate(); err != nil {
				return nil, fmt.Errorf("pull %s: manifest %s: blob %q: %w", src, mb.desc.Digest, d.Digest, err)
			}
			if d.Size < 0 {
				return nil, fmt.Errorf("pull %s: manifest %s: blob %s: invalid size %d", src, mb.desc.Digest, d.Digest, d.Size)
			}
			need[d.Digest] = d
		}
		if mb.desc.Platform != nil {
			platforms = append(platforms, image.PlatformString(*mb.desc.Platform))
		}
	}

	bl, err := newBlobs(ctx, r.Context(), rt, &o.Options)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", src, err)
	}
	if oci.IsManifest(string(top.MediaType)) && len(o.Platforms) > 0 {
		p, err := checkPlatform(ctx, bl, manifests[0], o.Platforms)
		if err != nil {
			return nil, fmt.Errorf("pull %s: %w", src, err)
		}
		platforms = append(platforms, p)
	}

	tx, err := s.Begin(ctx)
	if err != nil {
		return nil, err
	}
	// Whatever stops the pull (Ctrl-C, a registry error, a blob that fails its digest),
	// the blobs already staged hashed to their digests: they stay staged, and the re-run
	// does not download them again. No-op after Commit.
	defer tx.Suspend()

	var todo []ocispec.Descriptor
	for _, d := range need {
		if tx.Has(d.Digest) {
			res.Present++
			continue
		}
		todo = append(todo, d)
		res.FetchedBytes += d.Size
	}
	res.Blobs, res.Fetched, res.Reused = len(need), len(todo), tx.Reused()
	free := o.FreeSpace
	if free == nil {
		free = s.FreeSpace
	}
	if n, err := free(); err == nil && n < res.FetchedBytes+res.FetchedBytes/20 {
		return nil, fmt.Errorf("pull %s: needs %s in the store (%s), %s free: %w", src,
			progress.Size(res.FetchedBytes), s.Root(), progress.Size(n), ErrInsufficientSpace)
	}
	sort.Slice(todo, func(i, j int) bool { return todo[i].Size > todo[j].Size }) // big first: best packing of the jobs
	p := progress.OrNoop(o.Progress)
	p.SetTotal(res.FetchedBytes)
	defer p.Done()

	if len(todo) > 0 {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(o.jobs())
		for _, d := range todo {
			g.Go(func() error {
				rc, err := bl.open(gctx, d)
				if err != nil {
					return fmt.Errorf("blob %s: %w", d.Digest, err)
				}
				defer rc.Close()
				_, err = tx.Put(gctx, progress.Reader(rc, p), d) // errors name the blob
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return nil, fmt.Errorf("pull %s: %w", src, err)
		}
	}
	for _, mb := range manifests {
		if _, err := tx.Put(ctx, bytes.NewReader(mb.data), mb.desc); err != nil {
			return nil, fmt.Errorf("pull %s: manifest %s: %w", src, mb.desc.Digest, err)
		}
	}
	for _, fa := range found {
		if _, err := tx.Put(ctx, bytes.NewReader(fa.data), fa.desc); err != nil {
			return nil, fmt.Errorf("pull %s: %s %s: %w", src, fa.art.Kind, fa.desc.Digest, err)
		}
		if err := tx.AddArtifact(fa.art); err != nil {
			return nil, fmt.Errorf("pull %s: %w", src, err)
		}
	}
	if tag.Digest() != "" {
		tag = ref.Ref{} // stored untagged; NAME@DIGEST still resolves
	}
	tx.Tag(tag, root)
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("pull %s: %w", src, err)
	}
	sort.Strings(platforms)
	res.Desc, res.Platforms = root, platforms
	return res, nil
}

// maxIndexDepth bounds indexes of indexes, which a hostile registry could nest at will.
const maxIndexDepth = 8

// pullIndex fetches the children of an index (recursively) or, with platforms, only the
// chosen ones. It returns the descriptor to tag and the manifests to store.
func pullIndex(ctx context.Context, puller *remote.Puller, repo name.Repository, desc ocispec.Descriptor, data []byte, platforms []ocispec.Platform, res *PullResult, depth int) (ocispec.Descriptor, []manifestBlob, error) {
	if depth > maxIndexDepth {
		return desc, nil, fmt.Errorf("index %s: indexes nested more than %d deep: %w", desc.Digest, maxIndexDepth, ErrUnsupported)
	}
	ix, err := oci.ParseIndex(data)
	if err != nil {
		return desc, nil, fmt.Errorf("index %s: %w", desc.Digest, err)
	}
	if len(platforms) == 0 {
		out := []manifestBlob{{desc, data}}
		for _, c := range ix.Manifests {
			child, err := fetchManifest(ctx, puller, repo, c)
			if err != nil {
				return desc, nil, err
			}
			if oci.IsIndex(c.MediaType) {
				_, sub, err := pullIndex(ctx, puller, repo, c, child, nil, res, depth+1)
				if err != nil {
					return desc, nil, err
				}
				out = append(out, sub...)
				continue
			}
			out = append(out, manifestBlob{c, child})
		}
		return desc, out, nil
	}
	var chosen []ocispec.Descriptor
	for i := range platforms {
		c, err := image.SelectPlatform(ix, &platforms[i])
		if err != nil {
			return desc, nil, fmt.Errorf("index %s: %w", desc.Digest, err)
		}
		chosen = append(chosen, c)
	}
	var out []manifestBlob
	for _, c := range chosen {
		child, err := fetchManifest(ctx, puller, repo, c)
		if err != nil {
			return desc, nil, err
		}
		out = append(out, manifestBlob{c, child})
	}
	if len(chosen) == 1 {
		return chosen[0], out, nil
	}
	// Several platforms: a new index of just those, as containers/image and crane do.
	trimmed := *ix
	trimmed.Manifests = chosen
	b, err := json.Marshal(trimmed)
	if err != nil {
		return desc, nil, err
	}
	nd := ocispec.Descriptor{MediaType: desc.MediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
	res.Trimmed = true
	return nd, append([]manifestBlob{{nd, b}}, out...), nil
}

// fetchManifest gets a child manifest by digest; go-containerregistry checks the bytes
// against the digest, and the store checks again when it stages them.
func fetchManifest(ctx context.Context, puller *remote.Puller, repo name.Repository, d ocispec.Descriptor) ([]byte, error) {
	if err := d.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("manifest %q: %w", d.Digest, err)
	}
	got, err := puller.Get(ctx, repo.Digest(d.Digest.String()))
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", d.Digest, classify(err))
	}
	return got.Manifest, nil
}

// maxConfigSize bounds an image config read into memory (real ones are a few KiB).
const maxConfigSize = 4 << 20

// checkPlatform makes --platform on a single-platform image an error when the image is
// for another platform, rather than silently storing it.
func checkPlatform(ctx context.Context, bl *blobs, mb manifestBlob, want []ocispec.Platform) (string, error) {
	m, err := oci.ParseManifest(mb.data)
	if err != nil {
		return "", err
	}
	if m.Config.Size > maxConfigSize {
		return "", fmt.Errorf("config %s: %d bytes is too large for an image config", m.Config.Digest, m.Config.Size)
	}
	rc, err := bl.open(ctx, m.Config)
	if err != nil {
		return "", fmt.Errorf("config %s: %w", m.Config.Digest, err)
	}
	defer rc.Close()
	vr := digestio.NewDescriptorReader(rc, m.Config)
	data, err := io.ReadAll(vr)
	if err == nil {
		err = vr.Verify()
	}
	if err != nil {
		return "", fmt.Errorf("config %s: %w", m.Config.Digest, err)
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(data, &cfg); err != nil {
		return "", fmt.Errorf("config %s: %w", m.Config.Digest, err)
	}
	have := image.PlatformString(cfg.Platform)
	for _, p := range want {
		if p.OS == cfg.OS && p.Architecture == cfg.Architecture && (p.Variant == "" || p.Variant == cfg.Variant) {
			return have, nil
		}
	}
	return "", fmt.Errorf("image is for %s only, not %s", have, image.PlatformString(want[0]))
}
