package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/gofrs/flock"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/oci"
)

// PruneReport says what [Store.Prune] removed.
type PruneReport struct {
	Blobs      []digest.Digest `json:"blobs"`       // unreferenced blobs removed
	Leftovers  int             `json:"leftovers"`   // staged or temporary files of interrupted writes removed
	BytesFreed int64           `json:"bytes_freed"` // total size of both
}

// Prune removes blobs that no index entry reaches and the leftovers of interrupted writes.
// It needs the store to itself: if a load or import is running it returns ErrBusy rather
// than delete blobs that transaction is about to tag.
func (s *Store) Prune(ctx context.Context) (PruneReport, error) {
	var rep PruneReport
	live := flock.New(filepath.Join(s.root, liveFile))
	ok, err := live.TryLock()
	if err != nil {
		return rep, fmt.Errorf("prune %s: %w", s.root, err)
	}
	if !ok {
		return rep, fmt.Errorf("prune %s: %w: a load or import is in progress; try again later", s.root, ErrBusy)
	}
	defer live.Unlock()
	unlock, err := s.lock()
	if err != nil {
		return rep, err
	}
	defer unlock()

	reach, _ := s.reachable(ctx)
	blobDir := filepath.Join(s.root, ocispec.ImageBlobsDir, "sha256")
	entries, err := os.ReadDir(blobDir)
	if err != nil {
		return rep, fmt.Errorf("prune: %w", err)
	}
	for _, e := range entries {
		d := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		if reach[d] {
			continue
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
	return rep, syncDir(blobDir)
}

// reachable walks every index entry and returns the set of blobs reached. Blobs that
// cannot be read are recorded as reached (so prune never deletes on a guess) and their
// errors returned.
func (s *Store) reachable(ctx context.Context) (map[digest.Digest]bool, []error) {
	ix, err := s.Index()
	if err != nil {
		return map[digest.Digest]bool{}, []error{err}
	}
	seen := map[digest.Digest]bool{}
	var errs []error
	var walk func(d ocispec.Descriptor)
	walk = func(d ocispec.Descriptor) {
		if seen[d.Digest] {
			return
		}
		seen[d.Digest] = true
		if !oci.IsManifest(d.MediaType) && !oci.IsIndex(d.MediaType) {
			return
		}
		data, err := s.ReadBlob(ctx, d)
		if err != nil {
			errs = append(errs, err)
			return
		}
		kids, err := oci.Children(d.MediaType, data)
		if err != nil {
			errs = append(errs, fmt.Errorf("blob %s: %w", d.Digest, err))
			return
		}
		for _, k := range kids {
			walk(k)
		}
	}
	for _, d := range ix.Manifests {
		walk(d)
	}
	return seen, errs
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
	for _, top := range ix.Manifests {
		rep.Images++
		name, _ := entryRef(top)
		label := top.Digest.String()
		if !name.IsZero() {
			label = name.Familiar()
		}
		s.checkTree(ctx, label, top, bad, reached, map[digest.Digest]bool{}, &rep)
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

func (s *Store) checkTree(ctx context.Context, image string, d ocispec.Descriptor, bad, reached, onPath map[digest.Digest]bool, rep *CheckReport) {
	reached[d.Digest] = true
	if err := d.Digest.Validate(); err != nil {
		rep.Problems = append(rep.Problems, Problem{Image: image, Reason: fmt.Sprintf("invalid digest %q", d.Digest), Err: err})
		return
	}
	fi, err := os.Stat(s.BlobPath(d.Digest))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		rep.Problems = append(rep.Problems, Problem{Image: image, Blob: d.Digest, Reason: "missing (" + d.MediaType + ")", Err: ErrNotFound})
		return
	case err != nil:
		rep.Problems = append(rep.Problems, Problem{Image: image, Blob: d.Digest, Reason: err.Error(), Err: err})
		return
	case fi.Size() != d.Size:
		rep.Problems = append(rep.Problems, Problem{Image: image, Blob: d.Digest, Reason: fmt.Sprintf("size %d, descriptor says %d", fi.Size(), d.Size), Err: ErrSizeMismatch})
		return
	case bad[d.Digest]:
		rep.Problems = append(rep.Problems, Problem{Image: image, Blob: d.Digest, Reason: "image uses a corrupted blob (" + d.MediaType + ")", Err: ErrDigestMismatch})
		return
	}
	if !oci.IsManifest(d.MediaType) && !oci.IsIndex(d.MediaType) {
		return
	}
	if onPath[d.Digest] {
		rep.Problems = append(rep.Problems, Problem{Image: image, Blob: d.Digest, Reason: "index refers to itself"})
		return
	}
	onPath[d.Digest] = true
	defer delete(onPath, d.Digest)
	data, err := s.ReadBlob(ctx, d)
	if err != nil {
		rep.Problems = append(rep.Problems, Problem{Image: image, Blob: d.Digest, Reason: err.Error(), Err: err})
		return
	}
	kids, err := oci.Children(d.MediaType, data)
	if err != nil {
		rep.Problems = append(rep.Problems, Problem{Image: image, Blob: d.Digest, Reason: err.Error(), Err: err})
		return
	}
	for _, k := range kids {
		s.checkTree(ctx, image, k, bad, reached, onPath, rep)
	}
}
