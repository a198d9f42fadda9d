package serve

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/oci"
	"github.com/imgx/imgx/store"
)

// maxIndex bounds the index.json read per change (a store with 100,000 tags is ~30 MB).
const maxIndex = 256 << 20

// view is what one version of index.json makes visible: repositories and their tags,
// and every manifest and blob reachable from the index.
type view struct {
	repos     map[string]*repo
	names     []string                               // sorted repository names
	manifests map[digest.Digest]ocispec.Descriptor   // reachable manifests and indexes
	blobs     map[digest.Digest]int64                // every reachable digest and its size
	referrers map[digest.Digest][]ocispec.Descriptor // subject → manifests naming it
}

type repo struct {
	tags      map[string]ocispec.Descriptor
	ambiguous map[string][]string // tag → the full names that disagree on it
	list      []string            // sorted tags, ambiguous ones included
}

// meta is what the view needs of one manifest or index; content-addressed, so it is
// cached across index changes.
type meta struct {
	children     []ocispec.Descriptor
	subject      *ocispec.Descriptor
	artifactType string
	annotations  map[string]string
}

// indexKey identifies one version of index.json: the store replaces it by rename, so a
// new version is a new inode.
type indexKey struct {
	dev, ino   uint64
	size       int64
	mtimeNanos int64
}

// views builds and caches the view of a store.
type views struct {
	root *os.Root

	mu   sync.Mutex
	key  indexKey
	cur  *view
	meta map[digest.Digest]*meta
}

// get returns the view of index.json as it is now.
func (vs *views) get() (*view, error) {
	f, err := vs.root.Open(ocispec.ImageIndexFile)
	if err != nil {
		return nil, fmt.Errorf("open index: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat index: %w", err)
	}
	k := indexKey{size: fi.Size(), mtimeNanos: fi.ModTime().UnixNano()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		k.dev, k.ino = uint64(sys.Dev), sys.Ino
	}
	vs.mu.Lock()
	defer vs.mu.Unlock()
	if vs.cur != nil && k == vs.key {
		return vs.cur, nil
	}
	data, err := io.ReadAll(io.LimitReader(f, maxIndex+1))
	if err != nil {
		return nil, fmt.Errorf("read index: %w", err)
	}
	if len(data) > maxIndex {
		return nil, fmt.Errorf("read index: larger than %d bytes", maxIndex)
	}
	var ix ocispec.Index
	if err := json.Unmarshal(data, &ix); err != nil {
		return nil, fmt.Errorf("parse index.json: %w", err)
	}
	v := vs.build(ix.Manifests)
	vs.key, vs.cur = k, v
	return v, nil
}

// build walks the index's entries. A manifest or index that cannot be read is left out
// with what only it reaches ('imgx check' reports it); the rest is served.
func (vs *views) build(entries []ocispec.Descriptor) *view {
	v := &view{
		repos:     map[string]*repo{},
		manifests: map[digest.Digest]ocispec.Descriptor{},
		blobs:     map[digest.Digest]int64{},
		referrers: map[digest.Digest][]ocispec.Descriptor{},
	}
	if vs.meta == nil {
		vs.meta = map[digest.Digest]*meta{}
	}
	seen := map[digest.Digest]*meta{}
	var visit func(d ocispec.Descriptor, depth int)
	visit = func(d ocispec.Descriptor, depth int) {
		if d.Digest.Validate() != nil || d.Size < 0 || depth > 16 {
			return
		}
		if _, ok := v.blobs[d.Digest]; ok {
			return
		}
		if !oci.IsManifest(d.MediaType) && !oci.IsIndex(d.MediaType) {
			v.blobs[d.Digest] = d.Size
			return
		}
		m := vs.meta[d.Digest]
		if m == nil {
			var err error
			if m, err = vs.readMeta(d); err != nil {
				return
			}
		}
		seen[d.Digest] = m
		v.blobs[d.Digest] = d.Size
		v.manifests[d.Digest] = ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}
		if m.subject != nil {
			v.referrers[m.subject.Digest] = append(v.referrers[m.subject.Digest], ocispec.Descriptor{
				MediaType: d.MediaType, Digest: d.Digest, Size: d.Size,
				ArtifactType: m.artifactType, Annotations: m.annotations,
			})
		}
		for _, c := range m.children {
			visit(c, depth+1)
		}
	}
	for _, d := range entries {
		visit(d, 0)
	}
	vs.meta = seen // forget what the store no longer reaches

	type source struct {
		desc ocispec.Descriptor
		full string
	}
	claims := map[string]map[string][]source{} // name → tag → sources
	for _, d := range entries {
		if _, ok := v.manifests[d.Digest]; !ok {
			continue
		}
		short, full, tag, ok := servedNames(d)
		if !ok {
			continue
		}
		for _, n := range []string{short, full} {
			if n == "" {
				continue
			}
			if claims[n] == nil {
				claims[n] = map[string][]source{}
			}
			claims[n][tag] = append(claims[n][tag], source{v.manifests[d.Digest], full})
		}
	}
	for name, tags := range claims {
		r := &repo{tags: map[string]ocispec.Descriptor{}, ambiguous: map[string][]string{}}
		for tag, srcs := range tags {
			r.list = append(r.list, tag)
			var fulls []string
			same := true
			for _, s := range srcs {
				fulls = append(fulls, s.full)
				same = same && s.desc.Digest == srcs[0].desc.Digest
			}
			if same {
				r.tags[tag] = srcs[0].desc
				continue
			}
			slices.Sort(fulls)
			r.ambiguous[tag] = slices.Compact(fulls)
		}
		sort.Strings(r.list)
		v.repos[name] = r
		v.names = append(v.names, name)
	}
	sort.Strings(v.names)
	for s := range v.referrers {
		sort.Slice(v.referrers[s], func(i, j int) bool { return v.referrers[s][i].Digest < v.referrers[s][j].Digest })
	}
	return v
}

// maxManifest bounds a manifest or index read into memory (the store's own limit).
const maxManifest = 64 << 20

// errMissing marks a manifest or index that is not in the store.
var errMissing = errors.New("not in the store")

// readManifest reads a manifest or index through the store's os.Root and checks its
// size and digest.
func (vs *views) readManifest(d ocispec.Descriptor) ([]byte, error) {
	if d.Size < 0 || d.Size > maxManifest {
		return nil, fmt.Errorf("manifest %s: size %d out of range", d.Digest, d.Size)
	}
	f, err := vs.root.Open(blobPath(d.Digest))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("manifest %s: %w", d.Digest, errMissing)
	}
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", d.Digest, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, d.Size+1))
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", d.Digest, err)
	}
	if int64(len(data)) != d.Size || d.Digest.Algorithm().FromBytes(data) != d.Digest {
		return nil, fmt.Errorf("manifest %s: content does not match its descriptor", d.Digest)
	}
	return data, nil
}

// readMeta reads and verifies a manifest or index.
func (vs *views) readMeta(d ocispec.Descriptor) (*meta, error) {
	data, err := vs.readManifest(d)
	if err != nil {
		return nil, err
	}
	kids, err := oci.Children(d.MediaType, data)
	if err != nil {
		return nil, err
	}
	var doc struct {
		ArtifactType string              `json:"artifactType"`
		Config       *ocispec.Descriptor `json:"config"`
		Subject      *ocispec.Descriptor `json:"subject"`
		Annotations  map[string]string   `json:"annotations"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	m := &meta{children: kids, artifactType: doc.ArtifactType, annotations: doc.Annotations}
	if m.artifactType == "" && doc.Config != nil && oci.IsManifest(d.MediaType) {
		m.artifactType = doc.Config.MediaType
	}
	if doc.Subject != nil && doc.Subject.Digest.Validate() == nil {
		m.subject = doc.Subject
	}
	return m, nil
}

// servedNames returns the repository names an index entry is served under (see the
// package comment) and its tag; ok is false for an untagged entry or one whose name is
// not a valid reference.
func servedNames(d ocispec.Descriptor) (short, full, tag string, ok bool) {
	e := store.EntryOf(d) // the store's reading of ref.name and the containerd name
	if e.Ref.IsZero() || e.Ref.Tag() == "" {
		return "", "", "", false
	}
	n, err := reference.ParseNormalizedNamed(e.Ref.Name())
	if err != nil {
		return "", "", "", false
	}
	domain, path := reference.Domain(n), reference.Path(n)
	short = path
	if domain == "docker.io" {
		short = strings.TrimPrefix(path, "library/")
	}
	if !strings.Contains(domain, ":") {
		full = domain + "/" + path
	}
	if !validName(short) {
		short = ""
	}
	if !validName(full) {
		full = ""
	}
	return short, full, e.Ref.Tag(), short != "" || full != ""
}

var ocispecVersioned = specs.Versioned{SchemaVersion: 2}
