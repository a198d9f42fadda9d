package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/gofrs/flock"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/oci"
)

// PruneReport says what [Store.Prune] removed.
type PruneReport struct {
	Blobs      []digest.Digest `json:"blobs"`             // unreferenced blobs removed
	Leftovers  int             `json:"leftovers"`         // staged or temporary files of interrupted writes removed
	BytesFreed int64           `json:"bytes_freed"`       // total size of both
	Missing    []digest.Digest `json:"missing,omitempty"` // configs and layers images use that are missing (nothing hidden; 'imgx check' reports them)
	Artifacts  int             `json:"artifacts"`         // artifact entries removed because no kept image reaches their subject
	Images     []PrunedImage   `json:"images,omitempty"`  // untagged images removed (PruneOptions.Untagged), in index.json order
}

// PrunedImage is an untagged image [Store.PruneWith] removed.
type PrunedImage struct {
	ID     digest.Digest `json:"id"`     // image ID, as listings show it ("" if its manifest was unreadable)
	Digest digest.Digest `json:"digest"` // manifest or index digest
}

// PruneOptions tune [Store.PruneWith].
type PruneOptions struct {
	// Untagged also removes the images index.json lists without any name (what docker
	// calls dangling images: pulled by digest, or left by an interrupted tool), before
	// the blobs no remaining image reaches. Images named only by a raw ref.name stay.
	Untagged bool
}

// Prune removes blobs that no index entry reaches and the leftovers of interrupted writes.
// It needs the store to itself: if a load or import is running it returns ErrBusy rather
// than delete blobs that transaction is about to tag. It deletes nothing unless it can
// read the whole content graph: if index.json, or a manifest or index some entry reaches,
// is unreadable, corrupted or does not parse, the children of that node are unknown and
// Prune returns an error wrapping ErrIncomplete that names the image and the blob. A
// missing config or layer hides nothing and does not stop it (see PruneReport.Missing).
func (s *Store) Prune(ctx context.Context) (PruneReport, error) {
	return s.PruneWith(ctx, PruneOptions{})
}

// PruneWith is [Store.Prune] with options. With Untagged, the untagged images are
// removed in the same locked step and under the same rule: if the graph of the images
// that stay cannot be read completely, nothing is removed, neither images nor blobs.
func (s *Store) PruneWith(ctx context.Context, opts PruneOptions) (PruneReport, error) {
	var drop func(Entry) bool
	ids := map[digest.Digest]digest.Digest{} // read while the manifests are still there
	if opts.Untagged {
		drop = func(e Entry) bool {
			if !e.Ref.IsZero() || e.Name != "" {
				return false
			}
			if id, err := s.ImageID(ctx, e.Desc); err == nil {
				ids[e.Desc.Digest] = id
			}
			return true
		}
	}
	removed, rep, err := s.collect(ctx, drop)
	seen := map[digest.Digest]bool{}
	for _, e := range removed {
		if !seen[e.Desc.Digest] {
			seen[e.Desc.Digest] = true
			rep.Images = append(rep.Images, PrunedImage{ID: ids[e.Desc.Digest], Digest: e.Desc.Digest})
		}
	}
	return rep, err
}

// collect removes the index entries drop selects, then every blob no remaining entry
// reaches, under the store's exclusive locks. It reads the whole graph of the remaining
// entries before it changes anything: if that fails, nothing changes.
func (s *Store) collect(ctx context.Context, drop func(Entry) bool) ([]Entry, PruneReport, error) {
	var rep PruneReport
	live := flock.New(filepath.Join(s.root, liveFile))
	ok, err := live.TryLock()
	if err != nil {
		return nil, rep, fmt.Errorf("prune %s: %w", s.root, err)
	}
	if !ok {
		return nil, rep, fmt.Errorf("prune %s: %w: a load or import is in progress; try again later", s.root, ErrBusy)
	}
	defer live.Unlock()
	unlock, err := s.lock()
	if err != nil {
		return nil, rep, err
	}
	defer unlock()

	ix, err := s.Index()
	if err != nil {
		return nil, rep, fmt.Errorf("prune %s: %w: %w; nothing deleted", s.root, ErrIncomplete, err)
	}
	var removed []Entry
	images, arts := splitEntries(ix.Manifests)
	kept := make([]ocispec.Descriptor, 0, len(images))
	for _, d := range images {
		if drop != nil {
			if e := entryOf(d); drop(e) {
				removed = append(removed, e)
				continue
			}
		}
		kept = append(kept, d)
	}
	reach, err := s.reachable(ctx, kept)
	if err != nil {
		return nil, rep, fmt.Errorf("prune %s: %w; nothing deleted", s.root, err)
	}
	// Artifacts follow their subject: those attached to what the kept images reach stay,
	// with what they reach; the others go.
	keptArts, err := s.keptArtifacts(ctx, arts, reach)
	if err != nil {
		return nil, rep, fmt.Errorf("prune %s: %w; nothing deleted", s.root, err)
	}
	rep.Artifacts = len(arts) - len(keptArts)
	if len(removed) > 0 || rep.Artifacts > 0 {
		ix.Manifests = append(kept, keptArts...)
		if err := s.writeIndex(ix); err != nil {
			return nil, rep, fmt.Errorf("remove images: %w", err)
		}
	}
	blobDir := filepath.Join(s.root, ocispec.ImageBlobsDir, "sha256")
	entries, err := os.ReadDir(blobDir)
	if err != nil {
		return removed, rep, fmt.Errorf("prune: %w", err)
	}
	// Reached but absent: only configs and layers can be (an absent manifest or index
	// stopped the walk). They hide nothing, so prune goes on, and says so.
	present := make(map[digest.Digest]bool, len(entries))
	for _, e := range entries {
		present[digest.NewDigestFromEncoded(digest.SHA256, e.Name())] = true
	}
	for d := range reach {
		if d.Algorithm() != digest.SHA256 { // not in the listing: blobs/sha512, say
			if !s.Has(d) {
				rep.Missing = append(rep.Missing, d)
			}
			continue
		}
		if !present[d] {
			rep.Missing = append(rep.Missing, d)
		}
	}
	slices.Sort(rep.Missing)
	for _, e := range entries {
		d := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		if reach[d] || d.Validate() != nil {
			continue // a file that is not a blob is not ours to delete; check reports it
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		if err := os.Remove(filepath.Join(blobDir, e.Name())); err == nil {
			rep.Blobs = append(rep.Blobs, d)
			rep.BytesFreed += info.Size()
		}
	}
	for _, dir := range []string{stagedDir, ingestDir} {
		ents, _ := os.ReadDir(filepath.Join(s.root, dir))
		for _, e := range ents {
			info, err := e.Info()
			if err != nil {
				continue
			}
			if os.RemoveAll(filepath.Join(s.root, dir, e.Name())) == nil {
				rep.Leftovers++
				rep.BytesFreed += info.Size()
			}
		}
	}
	// Temporary files of atomic writes a killed process left: index.json, records.
	tmps, _ := filepath.Glob(filepath.Join(s.root, ".index.json.tmp-*"))
	more, _ := filepath.Glob(filepath.Join(s.root, recordsDir, "*", ".*.tmp-*"))
	for _, t := range append(tmps, more...) {
		if os.Remove(t) == nil {
			rep.Leftovers++
		}
	}
	return removed, rep, syncDir(blobDir)
}

// reachable walks every entry and returns the set of blobs reached. Any entry it cannot
// follow to the end (an unreadable manifest or index, or an entry of a media type whose
// references imgx cannot read) is an error wrapping ErrIncomplete that names the image:
// garbage collection must not guess.
func (s *Store) reachable(ctx context.Context, entries []ocispec.Descriptor) (map[digest.Digest]bool, error) {
	reach := map[digest.Digest]bool{}
	for _, top := range entries {
		if !oci.IsManifest(top.MediaType) && !oci.IsIndex(top.MediaType) {
			return nil, fmt.Errorf("image %s: %w: index.json lists %s as %q, a media type whose references imgx cannot read",
				entryOf(top).Label(), ErrIncomplete, top.Digest, top.MediaType)
		}
		err := s.Walk(ctx, []ocispec.Descriptor{top}, func(d ocispec.Descriptor) error {
			reach[d.Digest] = true
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("image %s: %w: %w", entryOf(top).Label(), ErrIncomplete, err)
		}
	}
	return reach, nil
}

// Problem is one thing wrong with the store found by [Store.Check].
type Problem struct {
	Image  string        `json:"image,omitempty"` // the tag or digest of the image affected, if any
	Blob   digest.Digest `json:"blob,omitempty"`  // the blob affected, if any
	Reason string        `json:"reason"`          // what is wrong
	Err    error         `json:"-"`
}

func (p Problem) Error() string {
	s := ""
	if p.Image != "" {
		s += "image " + p.Image + ": "
	}
	if p.Blob != "" {
		s += "blob " + p.Blob.String() + ": "
	}
	return s + p.Reason
}

func (p Problem) Unwrap() error { return p.Err }

// CheckReport is the result of [Store.Check].
type CheckReport struct {
	Images      int       `json:"images"`
	Artifacts   int       `json:"artifacts"`        // signatures, attestations, SBOMs attached to images
	Orphans     int       `json:"orphan_artifacts"` // artifacts whose subject no image reaches (prune removes them); not a problem
	Blobs       int       `json:"blobs"`
	Bytes       int64     `json:"bytes"`
	Unreachable int       `json:"unreachable"` // blobs no image uses (prune removes them); not a problem
	Leftovers   int       `json:"leftovers"`   // files of interrupted writes; not a problem
	Problems    []Problem `json:"problems"`
}

// OK reports whether the check found no problem.
func (r CheckReport) OK() bool { return len(r.Problems) == 0 }

// Check re-hashes every blob and checks every reference from index.json down to each
// layer: blobs present, sizes right, manifests and indexes parse. It reports every problem
// rather than stopping at the first.
func (s *Store) Check(ctx context.Context) (CheckReport, error) {
	var rep CheckReport
	blobDir := filepath.Join(s.root, ocispec.ImageBlobsDir, "sha256")
	entries, err := os.ReadDir(blobDir)
	if err != nil {
		return rep, fmt.Errorf("check %s: %w", s.root, err)
	}
	bad := map[digest.Digest]bool{}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		d := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		if d.Validate() != nil {
			rep.Problems = append(rep.Problems, Problem{Reason: fmt.Sprintf("stray file blobs/sha256/%s: not a sha256 digest", e.Name())})
			continue
		}
		rep.Blobs++
		f, err := os.Open(filepath.Join(blobDir, e.Name()))
		if err != nil {
			rep.Problems = append(rep.Problems, Problem{Blob: d, Reason: err.Error(), Err: err})
			bad[d] = true
			continue
		}
		n, got, err := hashCopy(ctx, io.Discard, f, -1)
		f.Close()
		rep.Bytes += n
		switch {
		case err != nil:
			rep.Problems = append(rep.Problems, Problem{Blob: d, Reason: "read: " + err.Error(), Err: err})
			bad[d] = true
		case got != d:
			rep.Problems = append(rep.Problems, Problem{Blob: d, Reason: "content hashes to " + got.String() + " (corrupted)", Err: ErrDigestMismatch})
			bad[d] = true
		}
	}

	ix, err := s.Index()
	if err != nil {
		rep.Problems = append(rep.Problems, Problem{Reason: err.Error(), Err: err})
		return rep, nil
	}
	reached := map[digest.Digest]bool{}
	images, arts := splitEntries(ix.Manifests)
	for _, top := range images {
		rep.Images++
		label := entryOf(top).Label()
		if !oci.IsManifest(top.MediaType) && !oci.IsIndex(top.MediaType) {
			rep.Problems = append(rep.Problems, Problem{Image: label, Blob: top.Digest,
				Reason: fmt.Sprintf("index.json lists it as %q, a media type whose references imgx cannot read (prune refuses to run)", top.MediaType)})
		}
		s.checkTree(ctx, label, top, bad, reached, &rep)
	}
	// Artifacts are checked like images; one whose subject no image reaches is not a
	// problem (prune removes it), it is counted.
	subjects := map[digest.Digest]bool{}
	for d := range reached {
		subjects[d] = true
	}
	attachedTo := map[digest.Digest]bool{}
	for _, a := range attached(arts, subjects) {
		attachedTo[a.Desc.Digest] = true
	}
	for _, a := range arts {
		rep.Artifacts++
		if !a.Kind.Valid() {
			rep.Problems = append(rep.Problems, Problem{Image: a.Subject.String(), Blob: a.Desc.Digest,
				Reason: fmt.Sprintf("artifact of unknown kind %q", a.Kind)})
		}
		if !attachedTo[a.Desc.Digest] {
			rep.Orphans++
		}
		s.checkTree(ctx, a.label(), a.Desc, bad, reached, &rep)
	}
	for _, e := range entries {
		d := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		if !reached[d] && d.Validate() == nil {
			rep.Unreachable++
		}
	}
	for _, dir := range []string{stagedDir, ingestDir} {
		ents, _ := os.ReadDir(filepath.Join(s.root, dir))
		rep.Leftovers += len(ents)
	}
	sort.SliceStable(rep.Problems, func(i, j int) bool { return rep.Problems[i].Image < rep.Problems[j].Image })
	return rep, nil
}

// checkTree checks every blob image reaches, reporting each problem and going on.
func (s *Store) checkTree(ctx context.Context, image string, top ocispec.Descriptor, bad, reached map[digest.Digest]bool, rep *CheckReport) {
	problem := func(p Problem) error {
		p.Image = image
		rep.Problems = append(rep.Problems, p)
		return SkipChildren
	}
	err := s.Walk(ctx, []ocispec.Descriptor{top}, func(d ocispec.Descriptor) error {
		reached[d.Digest] = true
		if err := d.Digest.Validate(); err != nil {
			return problem(Problem{Reason: fmt.Sprintf("invalid digest %q", d.Digest), Err: err})
		}
		fi, err := os.Stat(s.BlobPath(d.Digest))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return problem(Problem{Blob: d.Digest, Reason: "missing (" + d.MediaType + ")", Err: ErrNotFound})
		case err != nil:
			return problem(Problem{Blob: d.Digest, Reason: err.Error(), Err: err})
		case fi.Size() != d.Size:
			return problem(Problem{Blob: d.Digest, Reason: fmt.Sprintf("size %d, descriptor says %d", fi.Size(), d.Size), Err: ErrSizeMismatch})
		case bad[d.Digest]:
			return problem(Problem{Blob: d.Digest, Reason: "image uses a corrupted blob (" + d.MediaType + ")", Err: ErrDigestMismatch})
		}
		return nil
	}, OnUnreadable(func(ue *UnreadableError) error {
		problem(Problem{Blob: ue.Desc.Digest, Reason: ue.Err.Error(), Err: ue.Err})
		return nil
	}))
	if err != nil { // only cancellation stops a walk that reports and continues
		rep.Problems = append(rep.Problems, Problem{Image: image, Reason: err.Error(), Err: err})
	}
}
