package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/oci"
	"github.com/imgx/imgx/progress"
	"github.com/imgx/imgx/ref"
	"github.com/imgx/imgx/store"
)

// PushResult describes one image pushed.
type PushResult struct {
	Source        string        `json:"source"`
	Destination   string        `json:"destination"`
	Digest        digest.Digest `json:"digest"`
	MediaType     string        `json:"media_type"`
	Blobs         int           `json:"blobs"`          // config and layer blobs the image uses
	Uploaded      int           `json:"uploaded"`       // sent in full
	UploadedBytes int64         `json:"uploaded_bytes"` // their size
	Mounted       int           `json:"mounted"`        // mounted from another repository
	Existing      int           `json:"existing"`       // already in the destination repository
	// Artifacts are the signatures, attestations and SBOMs pushed with the image.
	Artifacts []PushedArtifact `json:"artifacts"`
}

// Pusher pushes images from a store. It remembers which blobs it has seen in which
// repository, so that pushing several images to one registry mounts shared layers instead
// of uploading them again. Push calls must not overlap.
type Pusher struct {
	s         *store.Store
	o         Options
	obs       *observer
	rt        http.RoundTripper
	pusher    *remote.Pusher
	puller    *remote.Puller
	total     int64
	known     map[string]name.Repository // registry + " " + digest → a repository holding it
	loaded    map[string]bool            // registries whose hints were read from the store
	mountRepo name.Repository

	// ExcludeExtras pushes images without their artifacts (signatures, attestations,
	// SBOMs); by default each is pushed next to its image (see PushArtifacts).
	ExcludeExtras bool
}

// NewPusher returns a Pusher for images of s.
func NewPusher(s *store.Store, o Options) (*Pusher, error) {
	rt, err := o.transport()
	if err != nil {
		return nil, err
	}
	obs := &observer{next: rt, p: progress.OrNoop(o.Progress)}
	p := &Pusher{s: s, o: o, obs: obs, rt: rt, known: map[string]name.Repository{}, loaded: map[string]bool{}}
	opts := o.remoteOptions(obs)
	pusher, err := remote.NewPusher(opts...)
	if err != nil {
		return nil, err
	}
	puller, err := remote.NewPuller(opts...)
	if err != nil {
		return nil, err
	}
	p.pusher, p.puller = pusher, puller
	return p, nil
}

// Close drops the Pusher's idle connections.
func (p *Pusher) Close() { p.o.closeIdle(p.rt) }

// Destination names where src goes when dst names a repository without a tag: the
// source's tag is kept ("app:2" to "reg/app" gives "reg/app:2").
func Destination(src ref.Ref, dst string) string {
	if _, err := ref.ParseRepository(dst); err == nil && src.Tag() != "" {
		return dst + ":" + src.Tag()
	}
	return dst
}

// UnderPrefix names the destination of a store image under a registry prefix: the
// repository path is kept without its registry host ("docker.io/library/debian:12"
// under "reg.lan/mirror" gives "reg.lan/mirror/library/debian:12"), which is the path a
// containerd or CRI-O registry mirror looks up.
func UnderPrefix(prefix string, src ref.Ref) string {
	path := src.Name()
	if i := strings.Index(path, "/"); i >= 0 {
		path = path[i+1:]
	}
	return strings.TrimSuffix(prefix, "/") + "/" + path + ":" + src.Tag()
}

// CheckPrefix reports whether prefix is a usable REGISTRY/PREFIX for UnderPrefix: a
// registry host and at least one path component.
func CheckPrefix(prefix string) error {
	p := strings.TrimSuffix(prefix, "/")
	if !strings.Contains(p, "/") {
		return fmt.Errorf("prefix %q: want REGISTRY/PREFIX, e.g. registry.lan:5000/mirror", prefix)
	}
	if _, err := name.ParseReference(p + "/x:latest"); err != nil {
		return fmt.Errorf("prefix %q: %w", prefix, err)
	}
	return nil
}

// Push copies the store image src to the registry reference dst, digests unchanged.
// Blobs the destination has are not sent, blobs seen in another repository of the same
// registry are mounted, and the result is checked by asking the registry for the digest
// it now serves under dst.
func (p *Pusher) Push(ctx context.Context, src store.Resolved, dst string) (*PushResult, error) {
	dr, err := p.o.parse(dst)
	if err != nil {
		return nil, err
	}
	if d, ok := dr.(name.Digest); ok && d.DigestStr() != src.Desc.Digest.String() {
		return nil, fmt.Errorf("push to %s: the source's digest is %s", dst, src.Desc.Digest)
	}
	blobs, err := p.closure(ctx, src.Desc)
	if err != nil {
		return nil, fmt.Errorf("push %s: %w", dst, err)
	}
	root, err := p.open(ctx, src.Desc)
	if err != nil {
		return nil, fmt.Errorf("push %s: %w", dst, err)
	}
	var t remote.Taggable
	switch {
	case oci.IsIndex(src.Desc.MediaType):
		t = storeIndex{root}
	case oci.IsManifest(src.Desc.MediaType):
		if t, err = root.image(); err != nil {
			return nil, fmt.Errorf("push %s: %w", dst, err)
		}
	default:
		return nil, fmt.Errorf("push %s: media type %q: %w", dst, src.Desc.MediaType, ErrUnsupported)
	}

	sizes := map[string]int64{}
	var total int64
	for _, b := range blobs {
		sizes[b.Digest.String()] = b.Size
		total += b.Size
	}
	p.total += total
	p.obs.reset(sizes)
	p.obs.p.SetTotal(p.total)
	p.mountRepo = dr.Context()
	p.loadHints(dr.Context().Registry)
	if err := p.pusher.Push(ctx, dr, t); err != nil {
		return nil, fmt.Errorf("push %s: %w", dst, classify(err))
	}
	got, err := p.puller.Head(ctx, dr)
	if err != nil {
		return nil, fmt.Errorf("push %s: check: %w", dst, classify(err))
	}
	if got.Digest.String() != src.Desc.Digest.String() {
		return nil, fmt.Errorf("push %s: the registry serves %s, not the pushed %s", dst, got.Digest, src.Desc.Digest)
	}

	res := &PushResult{Destination: dr.String(), Digest: src.Desc.Digest, MediaType: src.Desc.MediaType, Blobs: len(blobs)}
	if !src.Ref.IsZero() {
		res.Source = src.Ref.String()
	} else {
		res.Source = src.Desc.Digest.String()
	}
	up, mounted := p.obs.result()
	for _, b := range blobs {
		d := b.Digest.String()
		switch {
		case up[d]:
			res.Uploaded++
			res.UploadedBytes += b.Size
		case mounted[d]:
			res.Mounted++
		default:
			res.Existing++
		}
		p.known[dr.Context().RegistryStr()+" "+d] = dr.Context()
	}
	res.Artifacts = []PushedArtifact{}
	if !p.ExcludeExtras {
		if res.Artifacts, err = p.PushArtifacts(ctx, src.Desc, dr.Context()); err != nil {
			return nil, fmt.Errorf("push %s: %w", dst, err)
		}
	}
	p.saveHints(ctx, dr.Context().Registry)
	return res, nil
}

// Mount hints: which repository of a registry holds each blob imgx pushed there, kept in
// the store so that a later run can mount a shared layer into a new repository instead
// of uploading it. They are only hints: a registry that no longer has the blob there
// answers the mount with an upload, which then proceeds as usual.
const (
	hintsKind = "registry-blobs"
	maxHints  = 50000
)

func hintKey(reg name.Registry) string {
	sum := sha256.Sum256([]byte(reg.RegistryStr()))
	return hex.EncodeToString(sum[:])
}

func (p *Pusher) loadHints(reg name.Registry) {
	if p.loaded[reg.RegistryStr()] {
		return
	}
	p.loaded[reg.RegistryStr()] = true
	data, err := p.s.GetRecord(hintsKind, hintKey(reg))
	if err != nil {
		return
	}
	var h map[string]string // digest → repository path
	if json.Unmarshal(data, &h) != nil {
		return
	}
	for d, repo := range h {
		if r, err := name.NewRepository(reg.RegistryStr()+"/"+repo, name.Insecure); err == nil {
			if _, ok := p.known[reg.RegistryStr()+" "+d]; !ok {
				p.known[reg.RegistryStr()+" "+d] = r
			}
		}
	}
}

// saveHints records the hints for reg. Failing to save them (a read-only store, say)
// costs only a later mount, so it does not fail the push.
func (p *Pusher) saveHints(ctx context.Context, reg name.Registry) {
	h := map[string]string{}
	prefix := reg.RegistryStr() + " "
	for k, repo := range p.known {
		if d, ok := strings.CutPrefix(k, prefix); ok && len(h) < maxHints {
			h[d] = repo.RepositoryStr()
		}
	}
	data, err := json.Marshal(h)
	if err != nil {
		return
	}
	tx, err := p.s.Begin(ctx)
	if err != nil {
		return
	}
	defer tx.Discard()
	if tx.Record(hintsKind, hintKey(reg), data) == nil {
		_ = tx.Commit(ctx)
	}
}

// mountRepo is the repository being pushed to; mountFrom offers another repository of
// the same registry that holds blob d.
func (p *Pusher) mountFrom(d digest.Digest) name.Reference {
	repo, ok := p.known[p.mountRepo.RegistryStr()+" "+d.String()]
	if !ok || repo.String() == p.mountRepo.String() {
		return nil
	}
	return repo.Digest(d.String())
}

// closure lists the config and layer blobs desc reaches, once each, sorted by digest.
func (p *Pusher) closure(ctx context.Context, desc ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	var out []ocispec.Descriptor
	err := p.s.Walk(ctx, []ocispec.Descriptor{desc}, func(d ocispec.Descriptor) error {
		if !oci.IsManifest(d.MediaType) && !oci.IsIndex(d.MediaType) {
			out = append(out, d)
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Digest < out[j].Digest })
	return out, err
}

// observer watches the HTTP exchanges of a push to learn which blobs were uploaded,
// mounted or found, and counts upload bytes for progress. go-containerregistry does the
// protocol; this only reads the requests it makes.
type observer struct {
	next     http.RoundTripper
	p        progress.Progress
	mu       sync.Mutex
	sizes    map[string]int64
	uploaded map[string]bool
	mounted  map[string]bool
}

func (o *observer) reset(sizes map[string]int64) {
	o.mu.Lock()
	o.sizes, o.uploaded, o.mounted = sizes, map[string]bool{}, map[string]bool{}
	o.mu.Unlock()
}

func (o *observer) result() (uploaded, mounted map[string]bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.uploaded, o.mounted
}

func (o *observer) RoundTrip(req *http.Request) (*http.Response, error) {
	path, q := req.URL.Path, req.URL.Query()
	uploading := strings.Contains(path, "/blobs/uploads/")
	if uploading && req.Body != nil && req.Body != http.NoBody && (req.Method == http.MethodPatch || req.Method == http.MethodPut) {
		req.Body = &countingBody{req.Body, o.p}
	}
	resp, err := o.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case req.Method == http.MethodHead && strings.Contains(path, "/blobs/sha256:") && resp.StatusCode == http.StatusOK:
		o.p.Add(o.sizes[path[strings.LastIndex(path, "/")+1:]])
	case req.Method == http.MethodPost && uploading && q.Get("mount") != "" && resp.StatusCode == http.StatusCreated:
		o.mounted[q.Get("mount")] = true
		o.p.Add(o.sizes[q.Get("mount")])
	case req.Method == http.MethodPut && uploading && q.Get("digest") != "" && resp.StatusCode == http.StatusCreated:
		o.uploaded[q.Get("digest")] = true
	}
	return resp, nil
}

type countingBody struct {
	io.ReadCloser
	p progress.Progress
}

func (c *countingBody) Read(b []byte) (int, error) {
	n, err := c.ReadCloser.Read(b)
	c.p.Add(int64(n))
	return n, err
}
