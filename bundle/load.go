package bundle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/opencontainers/go-digest"

	"github.com/imgx/imgx/progress"
	"github.com/imgx/imgx/ref"
	"github.com/imgx/imgx/store"
	"github.com/imgx/imgx/verify"
)

// LoadOptions tune [Load].
type LoadOptions struct {
	// Policy decides whether the signatures are enough. The zero Policy trusts no key and
	// accepts any bundle with a warning (Result.Signature.Warning).
	Policy verify.Policy
	// Progress is told the total blob bytes and the bytes loaded; the caller ends it
	// (Done).
	Progress progress.Progress
	// Tag, if set, names the bundle's one untagged image in the load's commit; a bundle
	// without exactly one is refused (store.ErrTagTarget) before any blob is read.
	Tag ref.Ref
	// CheckImages, if set, is called after every blob verified and before the commit,
	// with the transaction (whose Open reads the staged blobs) and the manifest. An error
	// refuses the load and nothing is committed. It returns, per artifact manifest digest,
	// the key ID that verified a signature in it; the store records it.
	CheckImages func(ctx context.Context, tx *store.Tx, m *Manifest) (map[digest.Digest]string, error)
}

// LoadResult describes a loaded bundle.
type LoadResult struct {
	// LayersRebuilt counts layers rebuilt from recipes over layers the store held.
	LayersRebuilt int

	Manifest       *Manifest
	ManifestDigest digest.Digest
	Signature      verify.Result
	Images         []Image
	BlobsWritten   int   // blobs the store did not have
	BlobsSkipped   int   // blobs it had (still hashed from the stream)
	BlobsReused    int   // of those, blobs an earlier interrupted load had verified and staged
	BytesWritten   int64 // blob bytes written to disk
	// ImageSigners maps artifact manifest digests to the key ID that verified them
	// (LoadOptions.CheckImages).
	ImageSigners map[digest.Digest]string
}

// Load reads a bundle from r into s. In order: the manifest and signatures are checked
// against the policy before any blob is staged; a delta's base blobs must already be in
// the store; every blob is hashed as it streams into the store's staging area; the store
// changes only in the final commit, and only if everything verified. On any failure
// (cancelled ctx, truncated stream, a corrupt blob) the blobs that verified stay staged,
// invisible, so that a re-run does not write them again (LoadResult.BlobsReused); prune
// removes them.
func Load(ctx context.Context, s *store.Store, r io.Reader, opts LoadOptions) (res *LoadResult, err error) {
	rd, err := openStream(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	defer rd.Close()
	m := rd.Manifest
	res = &LoadResult{Manifest: m, ManifestDigest: rd.ManifestDigest, Images: m.Images}

	res.Signature, err = opts.Policy.Verify(rd.ManifestBytes, rd.Signatures)
	if err != nil {
		return res, fmt.Errorf("load: %w: %w", ErrSignature, err)
	}
	if err := checkBase(s, m); err != nil {
		return res, fmt.Errorf("load: %w", err)
	}
	if !opts.Tag.IsZero() {
		if err := checkTagTarget(m); err != nil {
			return res, fmt.Errorf("load: %w", err)
		}
	}
	if err := rd.readFiles(); err != nil {
		return res, fmt.Errorf("load: %w", err)
	}

	tx, err := s.Begin(ctx)
	if err != nil {
		return res, err
	}
	// Whatever stops the load (Ctrl-C, a stream cut short, a bad blob), the blobs staged
	// so far hashed to their digests: they stay staged for the re-run. A blob that failed
	// its check was never staged. No-op after Commit.
	defer tx.Suspend()
	if opts.Progress != nil {
		opts.Progress.SetTotal(m.TotalSize())
	}
	for i := range m.Blobs {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		e, err := rd.nextBlob(i, nil)
		if err != nil {
			return res, fmt.Errorf("load: %w", err)
		}
		if r := m.recipeFor(e.Desc.Digest); r != nil {
			var diffID digest.Digest
			if rd.Graph != nil {
				diffID = rd.Graph.DiffIDs[r.Layer.Digest]
			}
			had := tx.Has(r.Layer.Digest)
			if err := rebuildLayer(ctx, s, tx, progressEntry(e, opts.Progress), r, m, diffID); err != nil {
				return res, fmt.Errorf("load: %s: layer %s: %w", rd.blobName(i), r.Layer.Digest, classifyStoreErr(rd, err))
			}
			if !had {
				res.LayersRebuilt++
			}
			continue
		}
		had := tx.Has(e.Desc.Digest)
		if _, err := tx.Put(ctx, progress.Reader(e.R, opts.Progress), e.Desc); err != nil {
			return res, fmt.Errorf("load: %s: %w", rd.blobName(i), classifyStoreErr(rd, err))
		}
		if had {
			res.BlobsSkipped++
		} else {
			res.BlobsWritten++
		}
	}
	if err := rd.finish(); err != nil {
		return res, fmt.Errorf("load: %w", err)
	}
	for _, im := range m.Images {
		var r ref.Ref
		if im.Ref != "" {
			if r, err = ref.ParseNamed(im.Ref); err != nil {
				return res, fmt.Errorf("load: image %s: %w", imageName(im), err)
			}
		}
		tx.Tag(r, im.Descriptor)
	}
	if !opts.Tag.IsZero() {
		if err := tx.NameUntagged(opts.Tag); err != nil {
			return res, fmt.Errorf("load: %w", err)
		}
	}
	for _, a := range m.Artifacts {
		if err := tx.AddArtifact(store.Artifact{Subject: a.Subject, Kind: a.Kind, Desc: a.Descriptor}); err != nil {
			return res, fmt.Errorf("load: %w", err)
		}
	}
	// The image-signature policy looks at the staged images and artifacts last: nothing
	// is visible yet, and a refusal leaves the store as it was.
	if opts.CheckImages != nil {
		signers, err := opts.CheckImages(ctx, tx, m)
		if err != nil {
			return res, fmt.Errorf("load: %w", err)
		}
		for _, a := range m.Artifacts {
			if id := signers[a.Descriptor.Digest]; id != "" {
				_ = tx.AddArtifact(store.Artifact{Subject: a.Subject, Kind: a.Kind, Desc: a.Descriptor, Signer: id})
			}
		}
		res.ImageSigners = signers
	}
	res.BytesWritten = tx.BytesWritten()
	res.BlobsReused = tx.Reused()
	// The store remembers which bundles it loaded (with their manifests), in the same
	// commit: a nightly ingest then loads each bundle exactly once.
	if err := tx.Record(RecordKind, rd.ManifestDigest.Encoded(), rd.ManifestBytes); err != nil {
		return res, fmt.Errorf("load: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return res, fmt.Errorf("load: %w", err)
	}
	return res, nil
}

// checkTagTarget applies store.Tx.NameUntagged's rule to the manifest, so that a bundle
// with no single untagged image is refused before its blobs are read.
func checkTagTarget(m *Manifest) error {
	images, named, untagged := map[digest.Digest]bool{}, map[digest.Digest]bool{}, map[digest.Digest]bool{}
	for _, im := range m.Images {
		images[im.Descriptor.Digest] = true
		if im.Ref != "" {
			named[im.Descriptor.Digest] = true
		}
	}
	for _, im := range m.Images {
		if im.Ref == "" && !named[im.Descriptor.Digest] {
			untagged[im.Descriptor.Digest] = true
		}
	}
	return store.TagTargetError(len(images), len(untagged))
}

func classifyStoreErr(rd *reader, err error) error {
	switch {
	case errors.Is(err, store.ErrDigestMismatch):
		// The caller names the blob; keep only "digest mismatch: content hashes to …".
		var me *store.MismatchError
		if errors.As(err, &me) {
			return kindError{ErrDigest, me}
		}
		return kindError{ErrDigest, err}
	case errors.Is(err, store.ErrSizeMismatch):
		return kindError{ErrSize, err}
	}
	return rd.wrap(err)
}

// RecordKind is the store record kind under which [Load] notes each bundle it loaded,
// keyed by the hex of the bundle's manifest digest, holding the manifest bytes.
const RecordKind = "bundles"

// Loaded reports whether the bundle with manifest digest d was loaded into s.
func Loaded(s *store.Store, d digest.Digest) bool {
	if d.Validate() != nil {
		return false
	}
	_, err := s.GetRecord(RecordKind, d.Encoded())
	return err == nil
}

// checkBase fails, before anything is written, if a delta's base is not in the store.
func checkBase(s *store.Store, m *Manifest) error {
	if m.Base == nil {
		return nil
	}
	var missing []digest.Digest
	need := len(m.Expects)
	for _, d := range m.Expects {
		if !s.Has(d.Digest) {
			missing = append(missing, d.Digest)
		}
	}
	for _, r := range m.Recipes {
		for _, d := range r.Bases {
			need++
			if !s.Has(d) {
				missing = append(missing, d)
			}
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("%w: this delta builds on %s; the store lacks %d of the %d blobs it carried (first %s): load that bundle first",
		ErrMissingBase, m.Base, len(missing), need, missing[0])
}

// readAhead reads its source in its own goroutine, so that reading overlaps with hashing
// and writing: openStream's, for a plain-tar bundle.
// Memory: a few fixed buffers. Close stops the goroutine.
type readAhead struct {
	ctx  context.Context
	full chan []byte
	free chan []byte
	buf  []byte // the buffer being consumed
	cur  []byte // its unread part
	err  error
	errc chan error
	stop chan struct{}
	once sync.Once
}

const readAheadBuf = 1 << 20

func newReadAhead(ctx context.Context, r io.Reader) *readAhead {
	ra := &readAhead{ctx: ctx, full: make(chan []byte, 4), free: make(chan []byte, 4), errc: make(chan error, 1), stop: make(chan struct{})}
	for range 4 {
		ra.free <- (*aheadPool.Get().(*[]byte))[:readAheadBuf]
	}
	go func() {
		defer close(ra.full)
		for {
			var b []byte
			select {
			case b = <-ra.free:
			case <-ra.stop:
				return
			}
			n, err := r.Read(b)
			if n > 0 {
				select {
				case ra.full <- b[:n]:
				case <-ra.stop:
					return
				}
			}
			if n == 0 && err == nil {
				ra.free <- b // a Read may return nothing; ask again
				continue
			}
			if err != nil {
				ra.errc <- err
				return
			}
		}
	}()
	return ra
}

func (ra *readAhead) Read(p []byte) (int, error) {
	for len(ra.cur) == 0 {
		if ra.buf != nil {
			ra.free <- ra.buf[:readAheadBuf]
			ra.buf = nil
		}
		if ra.err != nil {
			return 0, ra.err
		}
		var b []byte
		var ok bool
		select {
		case b, ok = <-ra.full:
		case <-ra.ctx.Done():
			ra.err = ra.ctx.Err()
			continue
		}
		if !ok {
			select {
			case ra.err = <-ra.errc:
			default:
				ra.err = errors.New("read-ahead stopped")
			}
			continue
		}
		ra.buf, ra.cur = b, b
	}
	n := copy(p, ra.cur)
	ra.cur = ra.cur[n:]
	return n, nil
}

// Close stops the reading goroutine (it may still be blocked in the source's Read).
// Buffers still queued go back to the pool. It always returns nil.
func (ra *readAhead) Close() error {
	ra.close()
	return nil
}

func (ra *readAhead) close() {
	ra.once.Do(func() {
		close(ra.stop)
		for {
			select {
			case b := <-ra.free:
				aheadPool.Put(&b)
			default:
				return
			}
		}
	})
}

var aheadPool = sync.Pool{New: func() any { b := make([]byte, readAheadBuf); return &b }}

// progressEntry reports the recipe entry's bytes as they are read.
func progressEntry(e *blobEntry, p progress.Progress) *blobEntry {
	c := *e
	c.R = progress.Reader(e.R, p)
	return &c
}
