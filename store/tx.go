package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/gofrs/flock"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/internal/atomicfile"
	"github.com/imgx/imgx/ref"
)

// Tx stages blobs and tag changes and makes them visible together in [Tx.Commit].
// Until then nothing in blobs/ or index.json changes. Methods are safe for concurrent use,
// so a reader may stage several blobs in parallel.
type Tx struct {
	s    *Store
	live *flock.Flock

	mu        sync.Mutex
	staged    map[digest.Digest]bool // staged by this or an earlier (interrupted) tx; true if written by this tx
	tags      []tagOp
	artifacts []Artifact
	records   []record
	done      bool

	syncs   sync.WaitGroup // background fsync+rename of staged blobs
	syncSem chan struct{}  // a slot per background sync running (maxSyncs)
	syncErr error
	written int64
}

type tagOp struct {
	ref  ref.Ref // zero for an untagged image
	desc ocispec.Descriptor
}

// Begin starts a transaction. It holds a shared lock that keeps garbage collection away
// from the staging pool and from blobs the transaction relies on, until Commit or Discard.
func (s *Store) Begin(ctx context.Context) (*Tx, error) {
	l := flock.New(filepath.Join(s.root, liveFile))
	// If no transaction is live, files in ingest/ are leftovers of a killed writer: remove
	// them now rather than wait for prune. (Verified staged blobs stay, for resume.)
	if ok, _ := l.TryLock(); ok {
		if ents, err := os.ReadDir(filepath.Join(s.root, ingestDir)); err == nil {
			for _, e := range ents {
				os.Remove(filepath.Join(s.root, ingestDir, e.Name()))
			}
		}
		_ = l.Unlock()
	}
	if err := l.RLock(); err != nil {
		return nil, fmt.Errorf("lock store %s: %w", s.root, err)
	}
	return &Tx{s: s, live: l, staged: map[digest.Digest]bool{}, syncSem: make(chan struct{}, maxSyncs)}, nil
}

// Has reports whether blob d is committed or already staged (by this transaction or by
// an interrupted one, whose verified blobs are reused).
func (tx *Tx) Has(d digest.Digest) bool {
	if tx.s.Has(d) {
		return true
	}
	tx.mu.Lock()
	_, ok := tx.staged[d]
	tx.mu.Unlock()
	if ok {
		return true
	}
	if d.Validate() != nil {
		return false
	}
	if _, err := os.Stat(tx.s.stagedPath(d)); err == nil {
		tx.mu.Lock()
		if _, ok := tx.staged[d]; !ok {
			tx.staged[d] = false
		}
		tx.mu.Unlock()
		return true
	}
	return false
}

// Reused reports how many blobs this transaction found staged by an earlier, interrupted
// one (verified then, so not written again).
func (tx *Tx) Reused() int {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	n := 0
	for _, mine := range tx.staged {
		if !mine {
			n++
		}
	}
	return n
}

// BytesWritten reports how many blob bytes this transaction wrote to disk (blobs the
// store already had are not counted).
func (tx *Tx) BytesWritten() int64 {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	return tx.written
}

// Put reads a blob from r and stages it. want gives the expected digest and size; an empty
// digest means "compute it" and a negative size means "unknown" (for blobs imgx creates).
// The bytes are hashed as they are written; a mismatch returns an error wrapping
// ErrDigestMismatch or ErrSizeMismatch and stages nothing. A blob that is already present is
// still read and verified, but not written again. Put returns the blob's descriptor.
func (tx *Tx) Put(ctx context.Context, r io.Reader, want ocispec.Descriptor) (ocispec.Descriptor, error) {
	if want.Digest != "" {
		if err := want.Digest.Validate(); err != nil {
			return want, fmt.Errorf("blob %q: %w", want.Digest, err)
		}
		if tx.Has(want.Digest) {
			n, got, err := hashCopy(ctx, io.Discard, r, want.Size)
			if err != nil {
				return want, fmt.Errorf("blob %s: %w", want.Digest, err)
			}
			return want, check(want, n, got)
		}
	}
	f, err := os.CreateTemp(filepath.Join(tx.s.root, ingestDir), "blob-*")
	if err != nil {
		return want, fmt.Errorf("stage blob: %w", err)
	}
	tmp := f.Name()
	n, got, err := hashCopy(ctx, newFlushWriter(f), r, want.Size)
	if err == nil && want.Digest == "" {
		want.Digest = got
		if want.Size < 0 {
			want.Size = n
		}
	}
	if err == nil {
		err = check(want, n, got)
	}
	if err == nil && tx.Has(want.Digest) {
		err = errAlreadyStaged // only known now that the digest is computed
	}
	if err != nil {
		f.Close()
		os.Remove(tmp)
		switch {
		case err == errAlreadyStaged:
			return want, nil
		case want.Digest == "":
			return want, fmt.Errorf("stage blob (%s): %w", want.MediaType, err)
		case errors.Is(err, ErrDigestMismatch) || errors.Is(err, ErrSizeMismatch):
			return want, err
		}
		return want, fmt.Errorf("blob %s: %w", want.Digest, err)
	}
	tx.mu.Lock()
	tx.staged[want.Digest] = true
	tx.written += n
	tx.mu.Unlock()
	// fsync, close and rename into the staging pool, in the background: the disk flush
	// overlaps with hashing and writing the next blob (for a manifest or config of a few
	// KB the fsync is all the cost, and a load stages one of each per image). Commit, Open,
	// Discard and Suspend wait for it; at most maxSyncs run at once, so that a bundle of
	// thousands of small blobs holds no more open files. Only a synced blob is ever
	// renamed to its staged name, so a resumed load never trusts a torn file.
	tx.syncSem <- struct{}{}
	tx.syncs.Add(1)
	go func(d digest.Digest) {
		defer tx.syncs.Done()
		defer func() { <-tx.syncSem }()
		if err := finishStage(f, tx.s.stagedPath(d)); err != nil {
			tx.forget(d)
			tx.mu.Lock()
			if tx.syncErr == nil {
				tx.syncErr = fmt.Errorf("stage blob %s: %w", d, err)
			}
			tx.mu.Unlock()
		}
	}(want.Digest)
	return want, nil
}

// maxSyncs bounds the staged blobs a transaction syncs in the background at once.
const maxSyncs = 16

var errAlreadyStaged = errors.New("already staged")

// finishStage publishes a written blob under its staged name (atomicfile.Publish: fsync,
// close, rename). staged/ is not synced per blob: a staged blob lost in a crash is
// fetched again, one present is complete; Commit syncs blobs/ after its renames.
func finishStage(f *os.File, staged string) error {
	return atomicfile.Publish(f, staged)
}

func (tx *Tx) forget(d digest.Digest) {
	tx.mu.Lock()
	delete(tx.staged, d)
	tx.mu.Unlock()
}

// waitSyncs waits for background syncs and returns the first error one had.
func (tx *Tx) waitSyncs() error {
	tx.syncs.Wait()
	tx.mu.Lock()
	defer tx.mu.Unlock()
	return tx.syncErr
}

// PutBytes stages a small blob held in memory (a manifest or config imgx made).
func (tx *Tx) PutBytes(ctx context.Context, mediaType string, data []byte) (ocispec.Descriptor, error) {
	d := digest.FromBytes(data)
	return tx.Put(ctx, bytesReader(data), ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(data))})
}

// Open reads a committed or staged blob.
func (tx *Tx) Open(ctx context.Context, d digest.Digest) (io.ReadCloser, error) {
	if err := tx.waitSyncs(); err != nil {
		return nil, err
	}
	f, err := tx.s.Open(ctx, d)
	if errors.Is(err, ErrNotFound) {
		if f2, err2 := os.Open(tx.s.stagedPath(d)); err2 == nil {
			return f2, nil
		}
	}
	return f, err
}

// Tag records that r should point at desc (a manifest or index) on commit. A zero r records
// an untagged image, kept reachable so that garbage collection does not remove it.
func (tx *Tx) Tag(r ref.Ref, desc ocispec.Descriptor) {
	tx.mu.Lock()
	tx.tags = append(tx.tags, tagOp{ref: r, desc: desc})
	tx.mu.Unlock()
}

// NameUntagged gives r to the one image this transaction adds without a name, instead
// of leaving it untagged (load --tag): in the same commit, so the name never points at
// an image that was not committed. An image that is also tagged in the transaction is
// named already. Without exactly one untagged image it changes nothing and returns
// [TagTargetError]'s error.
func (tx *Tx) NameUntagged(r ref.Ref) error {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	named := map[digest.Digest]bool{}
	images := map[digest.Digest]bool{}
	for _, op := range tx.tags {
		images[op.desc.Digest] = true
		if !op.ref.IsZero() {
			named[op.desc.Digest] = true
		}
	}
	target := -1
	untagged := map[digest.Digest]bool{}
	for i, op := range tx.tags {
		if op.ref.IsZero() && !named[op.desc.Digest] {
			if !untagged[op.desc.Digest] {
				target = i
			}
			untagged[op.desc.Digest] = true
		}
	}
	if err := TagTargetError(len(images), len(untagged)); err != nil {
		return err
	}
	tx.tags[target].ref = r
	return nil
}

// TagTargetError is nil when an input of n images, untagged of them without a name, has
// exactly one image to name; otherwise an error wrapping ErrTagTarget that says why.
func TagTargetError(n, untagged int) error {
	if untagged == 1 {
		return nil
	}
	images := "1 image"
	if n != 1 {
		images = fmt.Sprintf("%d images", n)
	}
	switch untagged {
	case 0:
		return fmt.Errorf("the input holds %s, none untagged: %w", images, ErrTagTarget)
	default:
		return fmt.Errorf("the input holds %s, %d untagged: %w", images, untagged, ErrTagTarget)
	}
}

// Commit checks that every tagged image is complete (all blobs it reaches are committed
// or staged), then moves the staged blobs into blobs/ and updates index.json in one locked
// step. If the check fails nothing changes and the error wraps ErrMissingBlob.
func (tx *Tx) Commit(ctx context.Context) error {
	if err := tx.waitSyncs(); err != nil {
		tx.Discard()
		return fmt.Errorf("commit: %w", err)
	}
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.done {
		return errors.New("commit: transaction already finished")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	unlock, err := tx.s.lock()
	if err != nil {
		return err
	}
	defer unlock()

	need := map[digest.Digest]bool{}
	for _, t := range tx.tags {
		if err := tx.walk(ctx, t.desc, need); err != nil {
			if t.ref.IsZero() {
				return fmt.Errorf("image %s: %w", t.desc.Digest, err)
			}
			return fmt.Errorf("image %s: %w", t.ref.Familiar(), err)
		}
	}
	for _, a := range tx.artifacts {
		if err := tx.walk(ctx, a.Desc, need); err != nil {
			return fmt.Errorf("%s: %w", a.label(), err)
		}
	}
	for d := range need {
		if tx.s.Has(d) {
			if tx.staged[d] {
				os.Remove(tx.s.stagedPath(d)) // committed meanwhile by another process
			}
			continue
		}
		if err := os.Rename(tx.s.stagedPath(d), tx.s.BlobPath(d)); err != nil {
			return fmt.Errorf("commit blob %s: %w", d, err)
		}
	}
	if err := tx.publishLocked(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	// Blobs this transaction staged that no tagged image uses (an incomplete index's
	// children, say) would otherwise wait for prune.
	for d, mine := range tx.staged {
		if mine && !need[d] {
			os.Remove(tx.s.stagedPath(d))
		}
	}
	tx.discardLocked(false)
	return nil
}

// publishLocked makes the blob renames durable, then index.json, then the records, each
// step only once the one before is on disk: index.json never names a blob a crash could
// lose, and a record (which tells ingest a bundle is loaded) never outlives the images
// it stands for. What does not need that order is done at once: the new index.json and
// the records are written and synced to their temporary files while the blobs directory
// syncs, so of the five fsyncs only three wait on one another (blobs directory, store
// directory after the index.json rename, records directory after theirs).
func (tx *Tx) publishLocked() error {
	var ix []byte
	if len(tx.tags) > 0 || len(tx.artifacts) > 0 {
		cur, err := tx.s.Index()
		if err != nil {
			return err
		}
		setTags(cur, tx.tags)
		addArtifacts(cur, tx.artifacts)
		if ix, err = encodeIndex(cur); err != nil {
			return err
		}
	}
	type prep struct {
		f   *atomicfile.File
		err error
	}
	files := make([]prep, 1+len(tx.records)) // index.json (if any), then the records in order
	var wg sync.WaitGroup
	start := func(i int, path string, mkdir bool, data []byte) {
		wg.Go(func() {
			if mkdir {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					files[i].err = err
					return
				}
			}
			f, err := atomicfile.Create(path, 0o644)
			if err == nil {
				if _, err = f.Write(data); err == nil {
					err = f.Sync()
				}
				if err != nil {
					f.Abort()
					f = nil
				}
			}
			files[i] = prep{f, err}
		})
	}
	if ix != nil {
		start(0, tx.s.indexPath(), false, ix)
	}
	for i, r := range tx.records {
		start(1+i, filepath.Join(tx.s.root, recordsDir, r.kind, r.key), true, r.data)
	}
	err := syncDir(filepath.Dir(tx.s.BlobPath(digest.FromString(""))))
	wg.Wait()
	defer func() {
		for _, p := range files {
			if p.f != nil {
				p.f.Abort() // no-op once committed
			}
		}
	}()
	if err != nil {
		return err
	}
	// Publish nothing unless every file was written: a record that cannot be written
	// must not leave the tags it came with visible, as if the load half-happened.
	for i, p := range files {
		if p.err != nil {
			if i == 0 {
				return fmt.Errorf("write index.json: %w", p.err)
			}
			r := tx.records[i-1]
			return fmt.Errorf("record %s/%s: %w", r.kind, r.key, p.err)
		}
	}
	for i, p := range files {
		if p.f == nil { // no index change
			continue
		}
		// Commit syncs the file again (its data is on disk already: quick), renames it
		// and syncs its directory.
		if err := p.f.Commit(); err != nil {
			if i == 0 {
				return err
			}
			r := tx.records[i-1]
			return fmt.Errorf("record %s/%s: %w", r.kind, r.key, err)
		}
	}
	return nil
}

// walk adds desc and everything it reaches to need, checking that each blob is
// committed or staged with the right size and that manifests and indexes verify and
// parse. Anything unreadable fails the commit.
func (tx *Tx) walk(ctx context.Context, desc ocispec.Descriptor, need map[digest.Digest]bool) error {
	w := &walker{read: func(d ocispec.Descriptor) ([]byte, error) {
		return readMeta(d, tx.s.BlobPath(d.Digest), tx.s.stagedPath(d.Digest))
	}}
	return w.walk(ctx, []ocispec.Descriptor{desc}, func(d ocispec.Descriptor) error {
		if err := d.Digest.Validate(); err != nil {
			return fmt.Errorf("blob %q: %w", d.Digest, err)
		}
		fi, err := os.Stat(tx.s.BlobPath(d.Digest))
		if errors.Is(err, fs.ErrNotExist) {
			fi, err = os.Stat(tx.s.stagedPath(d.Digest))
		}
		if err != nil {
			return fmt.Errorf("%w %s (%s)", ErrMissingBlob, d.Digest, d.MediaType)
		}
		if fi.Size() != d.Size {
			return fmt.Errorf("blob %s: %w: have %d bytes, descriptor says %d", d.Digest, ErrSizeMismatch, fi.Size(), d.Size)
		}
		need[d.Digest] = true
		return nil
	})
}

// Discard ends the transaction without committing. Blobs this transaction staged are
// removed, so a rejected input leaves the store as it was.
func (tx *Tx) Discard() {
	tx.syncs.Wait()
	tx.mu.Lock()
	defer tx.mu.Unlock()
	tx.discardLocked(true)
}

// Suspend ends the transaction without committing but keeps its verified staged blobs,
// so that re-running an interrupted load does not write them again.
func (tx *Tx) Suspend() {
	tx.syncs.Wait()
	tx.mu.Lock()
	defer tx.mu.Unlock()
	tx.discardLocked(false)
}

func (tx *Tx) discardLocked(removeStaged bool) {
	if tx.done {
		return
	}
	tx.done = true
	if removeStaged {
		for d, mine := range tx.staged {
			if mine {
				os.Remove(tx.s.stagedPath(d))
			}
		}
	}
	_ = tx.live.Unlock()
}

func check(want ocispec.Descriptor, n int64, got digest.Digest) error {
	if want.Size >= 0 && n != want.Size {
		return fmt.Errorf("blob %s: %w: got %d bytes, want %d", want.Digest, ErrSizeMismatch, n, want.Size)
	}
	if got != want.Digest {
		return fmt.Errorf("blob %s: %w", want.Digest, &MismatchError{Want: want.Digest, Got: got})
	}
	return nil
}
