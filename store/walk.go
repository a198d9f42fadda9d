package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/oci"
)

// SkipChildren, returned by a [Store.Walk] visit function, skips what the visited
// manifest or index lists, as fs.SkipDir does for a directory. It is not an error.
//
//lint:ignore ST1012 a signal like fs.SkipDir, not a failure
var SkipChildren = errors.New("skip children")

// UnreadableError names a manifest or index whose children a walk could not learn (it is
// missing, its bytes do not match its descriptor, or it does not parse): everything
// below it is unknown.
type UnreadableError struct {
	Desc ocispec.Descriptor
	Err  error
}

func (e *UnreadableError) Error() string {
	return fmt.Sprintf("%s %s: %v", nodeKind(e.Desc.MediaType), e.Desc.Digest, e.Err)
}

func (e *UnreadableError) Unwrap() error { return e.Err }

func nodeKind(mt string) string {
	if oci.IsIndex(mt) {
		return "index"
	}
	return "manifest"
}

// WalkOption adjusts [Store.Walk].
type WalkOption func(*walker)

// OnUnreadable sets the walk's policy for a manifest or index it cannot read. fn gets
// the node's error; if fn returns nil the walk goes on without that node's children
// (report and continue, what [Store.Check] does), otherwise the walk stops with fn's
// error. Without this option the walk stops with the *UnreadableError (fail): what
// garbage collection and commit need, since an unknown child may be in use.
func OnUnreadable(fn func(*UnreadableError) error) WalkOption {
	return func(w *walker) { w.unreadable = fn }
}

// walker is the one traversal of the content graph (index.json entries, indexes,
// manifests, configs, layers) that Walk, Tx.Commit, Prune and Check share.
type walker struct {
	read       func(ocispec.Descriptor) ([]byte, error) // bytes of a manifest or index, verified
	unreadable func(*UnreadableError) error
}

// Walk calls fn once for every descriptor reachable from roots (roots included), a
// manifest or index before what it lists, reading manifests and indexes from the store
// and verifying their size and digest. fn may return [SkipChildren]; any other error
// stops the walk. A manifest or index that cannot be read or parsed stops the walk with
// an *UnreadableError unless [OnUnreadable] says otherwise.
func (s *Store) Walk(ctx context.Context, roots []ocispec.Descriptor, fn func(ocispec.Descriptor) error, opts ...WalkOption) error {
	w := &walker{read: func(d ocispec.Descriptor) ([]byte, error) { return readMeta(d, s.BlobPath(d.Digest)) }}
	for _, o := range opts {
		o(w)
	}
	return w.walk(ctx, roots, fn)
}

func (w *walker) walk(ctx context.Context, roots []ocispec.Descriptor, fn func(ocispec.Descriptor) error) error {
	visited := map[digest.Digest]bool{} // fn called
	expanded := map[digest.Digest]bool{}
	onPath := map[digest.Digest]bool{}
	var visit func(d ocispec.Descriptor) error
	visit = func(d ocispec.Descriptor) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if onPath[d.Digest] {
			return w.fail(d, errors.New("refers to itself"))
		}
		if !visited[d.Digest] {
			visited[d.Digest] = true
			switch err := fn(d); {
			case err == SkipChildren:
				expanded[d.Digest] = true
				return nil
			case err != nil:
				return err
			}
		}
		// A digest first seen as a leaf (a layer, say) and later listed as a manifest is
		// still expanded: its children must not go unseen.
		if expanded[d.Digest] || (!oci.IsManifest(d.MediaType) && !oci.IsIndex(d.MediaType)) {
			return nil
		}
		expanded[d.Digest] = true
		data, err := w.read(d)
		var kids []ocispec.Descriptor
		if err == nil {
			kids, err = oci.Children(d.MediaType, data)
		}
		if err != nil {
			return w.fail(d, err)
		}
		onPath[d.Digest] = true
		defer delete(onPath, d.Digest)
		for _, k := range kids {
			if err := visit(k); err != nil {
				return err
			}
		}
		return nil
	}
	for _, r := range roots {
		if err := visit(r); err != nil {
			return err
		}
	}
	return nil
}

func (w *walker) fail(d ocispec.Descriptor, err error) error {
	ue := &UnreadableError{Desc: d, Err: err}
	if w.unreadable == nil {
		return ue
	}
	return w.unreadable(ue)
}

// maxMeta bounds the size of a manifest or index read into memory: a guard against a
// corrupted descriptor making imgx read gigabytes.
const maxMeta = 64 << 20

// errMissing is the cause for a manifest or index that is not in the store.
var errMissing = fmt.Errorf("missing: %w", ErrNotFound)

// readMeta reads a manifest or index from the first of paths that exists and checks it
// against d: size and digest.
func readMeta(d ocispec.Descriptor, paths ...string) ([]byte, error) {
	if err := d.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("invalid digest: %w", err)
	}
	if d.Size < 0 || d.Size > maxMeta {
		return nil, fmt.Errorf("descriptor size %d out of range for a manifest or index (at most %d)", d.Size, maxMeta)
	}
	var f *os.File
	var err error
	for _, p := range paths {
		if f, err = os.Open(p); !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errMissing
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, d.Size+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) != d.Size {
		n := int64(len(data))
		if fi, err := f.Stat(); err == nil {
			n = fi.Size()
		}
		return nil, fmt.Errorf("%w: %d bytes on disk, descriptor says %d", ErrSizeMismatch, n, d.Size)
	}
	if got := d.Digest.Algorithm().FromBytes(data); got != d.Digest {
		return nil, &MismatchError{Want: d.Digest, Got: got}
	}
	return data, nil
}

// Reach returns every descriptor the images reach (each once, a manifest or index before
// what it lists): the blobs a bundle or archive of them needs.
func (s *Store) Reach(ctx context.Context, images []Resolved) ([]ocispec.Descriptor, error) {
	roots := make([]ocispec.Descriptor, len(images))
	for i, im := range images {
		roots[i] = im.Desc
	}
	var out []ocispec.Descriptor
	err := s.Walk(ctx, roots, func(d ocispec.Descriptor) error { out = append(out, d); return nil })
	return out, err
}

// EstimateSize adds up the sizes of the blobs the images reach, less those skip holds
// (the layers a delta's base carried): an estimate for a free-space check before they are
// written out. A part of the graph that cannot be read is left out of the sum; the write
// that follows reports it, with its cause.
func (s *Store) EstimateSize(ctx context.Context, images []Resolved, skip map[digest.Digest]bool) int64 {
	descs, _ := s.Reach(ctx, images)
	var n int64
	for _, d := range descs {
		if !skip[d.Digest] {
			n += d.Size
		}
	}
	return n
}
