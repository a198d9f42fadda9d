package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/gofrs/flock"

	"github.com/imgx/imgx/internal/atomicfile"
	"github.com/imgx/imgx/internal/digestio"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Store is an OCI image layout directory owned (but not exclusively) by imgx.
// A Store is safe for concurrent use by several goroutines and processes.
type Store struct {
	root string
}

const (
	metaDir   = ".imgx"
	stagedDir = ".imgx/staged/sha256"
	ingestDir = ".imgx/ingest"
	lockFile  = ".imgx/lock"   // exclusive while index.json or blobs/ change
	liveFile  = ".imgx/active" // shared by every open Tx; exclusive for garbage collection
)

// DefaultRoot returns the store directory used when none is given:
// $IMGX_STORE, else ${XDG_DATA_HOME:-$HOME/.local/share}/imgx. getenv looks the
// variables up (the command line passes the process environment's); the library reads
// no environment itself.
func DefaultRoot(getenv func(string) string) (string, error) {
	if d := getenv("IMGX_STORE"); d != "" {
		return d, nil
	}
	if d := getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "imgx"), nil
	}
	home := getenv("HOME")
	if home == "" {
		return "", errors.New("locate store: $HOME is not defined (set --store or IMGX_STORE)")
	}
	return filepath.Join(home, ".local", "share", "imgx"), nil
}

// OpenExisting opens the store at root like [Open], but only if one is there: a root
// without an oci-layout marker (missing, empty, an unmounted mount point, a typo) is
// an error wrapping ErrNoStore, and nothing is created. Commands that only read or
// remove use it, so that a wrong path fails instead of looking like an empty store.
func OpenExisting(root string) (*Store, error) {
	if _, err := os.Lstat(filepath.Join(root, ocispec.ImageLayoutFile)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w at %s", ErrNoStore, root)
		}
		return nil, fmt.Errorf("open store %s: %w", root, err)
	}
	return Open(root)
}

// Open opens the store at root, creating an empty OCI layout there if the directory is
// missing or empty. A directory that holds an OCI layout written by another tool is used
// as it is.
func Open(root string) (*Store, error) {
	s := &Store{root: root}
	for _, d := range []string{"blobs/sha256", stagedDir, ingestDir} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return nil, fmt.Errorf("open store %s: %w", root, err)
		}
	}
	// Lock files exist from the start so that taking a lock never changes the tree.
	for _, f := range []string{lockFile, liveFile} {
		lf, err := os.OpenFile(filepath.Join(root, f), os.O_CREATE|os.O_RDONLY, 0o644)
		if err != nil {
			return nil, fmt.Errorf("open store %s: %w", root, err)
		}
		lf.Close()
	}
	layoutPath := filepath.Join(root, ocispec.ImageLayoutFile)
	switch data, err := os.ReadFile(layoutPath); {
	case errors.Is(err, fs.ErrNotExist):
		b, _ := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
		if err := writeFileAtomic(layoutPath, b); err != nil {
			return nil, fmt.Errorf("open store %s: %w", root, err)
		}
	case err != nil:
		return nil, fmt.Errorf("open store %s: %w", root, err)
	default:
		var l ocispec.ImageLayout
		if err := json.Unmarshal(data, &l); err != nil || l.Version == "" {
			return nil, fmt.Errorf("open store %s: %s is not an OCI layout marker", root, layoutPath)
		}
	}
	if _, err := os.Stat(s.indexPath()); errors.Is(err, fs.ErrNotExist) {
		unlock, err := s.lock()
		if err != nil {
			return nil, err
		}
		defer unlock()
		if _, err := os.Stat(s.indexPath()); errors.Is(err, fs.ErrNotExist) {
			if err := s.writeIndex(&ocispec.Index{}); err != nil {
				return nil, fmt.Errorf("open store %s: %w", root, err)
			}
		}
	}
	return s, nil
}

// Root returns the store directory.
func (s *Store) Root() string { return s.root }

func (s *Store) indexPath() string { return filepath.Join(s.root, ocispec.ImageIndexFile) }

// BlobPath is where blob d lives once committed.
func (s *Store) BlobPath(d digest.Digest) string {
	return filepath.Join(s.root, ocispec.ImageBlobsDir, d.Algorithm().String(), d.Encoded())
}

func (s *Store) stagedPath(d digest.Digest) string {
	return filepath.Join(s.root, stagedDir, d.Encoded())
}

// lock takes the store's exclusive index lock, waiting for it.
func (s *Store) lock() (func(), error) {
	l := flock.New(filepath.Join(s.root, lockFile))
	if err := l.Lock(); err != nil {
		return nil, fmt.Errorf("lock store %s: %w", s.root, err)
	}
	return func() { _ = l.Unlock() }, nil
}

// Has reports whether blob d is committed in the store. It trusts the name: blobs only
// reach their final name after verification; [Store.Check] re-hashes.
func (s *Store) Has(d digest.Digest) bool {
	if d.Validate() != nil {
		return false
	}
	_, err := os.Stat(s.BlobPath(d))
	return err == nil
}

// Open opens committed blob d for reading. It returns an error wrapping ErrNotFound if
// the store lacks it. The bytes are not re-verified; use [Store.Fetch] across trust
// boundaries.
func (s *Store) Open(ctx context.Context, d digest.Digest) (*os.File, error) {
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("blob %q: %w", d, err)
	}
	f, err := os.Open(s.BlobPath(d))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("blob %s: %w", d, ErrNotFound)
	}
	return f, err
}

// Fetch opens the blob described by desc and verifies size and digest as it is read: the
// reader returns an error wrapping ErrDigestMismatch or ErrSizeMismatch at the end of a
// corrupted blob instead of io.EOF.
func (s *Store) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	f, err := s.Open(ctx, desc.Digest)
	if err != nil {
		return nil, err
	}
	return &verifiedFile{VerifyReader: digestio.NewDescriptorReader(f, desc), f: f, desc: desc}, nil
}

// verifiedFile closes the blob file under a verifying reader and names the blob in errors.
type verifiedFile struct {
	*digestio.VerifyReader
	f    *os.File
	desc ocispec.Descriptor
}

func (v *verifiedFile) Read(p []byte) (int, error) {
	n, err := v.VerifyReader.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("blob %s: %w", v.desc.Digest, err)
	}
	return n, err
}

func (v *verifiedFile) Close() error { return v.f.Close() }

// ReadBlob reads a small blob (manifest, index, config) fully and verifies it
// (ReadSmall).
func (s *Store) ReadBlob(ctx context.Context, desc ocispec.Descriptor) ([]byte, error) {
	return ReadSmall(ctx, s, desc)
}

// Fetcher opens a blob for reading, verifying it as it is read: a Store, or anything
// that serves blobs the same way.
type Fetcher interface {
	Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error)
}

// ReadSmall reads a small blob (manifest, index, config) fully through f. The size is
// bounded (64 MiB), a guard against a corrupted descriptor making imgx read gigabytes.
func ReadSmall(ctx context.Context, f Fetcher, desc ocispec.Descriptor) ([]byte, error) {
	if desc.Size > maxMeta {
		return nil, fmt.Errorf("blob %s: %d bytes is too large for metadata", desc.Digest, desc.Size)
	}
	rc, err := f.Fetch(ctx, desc)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// Index returns the store's index.json.
func (s *Store) Index() (*ocispec.Index, error) {
	data, err := os.ReadFile(s.indexPath())
	if err != nil {
		return nil, fmt.Errorf("read index: %w", err)
	}
	var ix ocispec.Index
	if err := json.Unmarshal(data, &ix); err != nil {
		return nil, fmt.Errorf("read %s: %w", s.indexPath(), err)
	}
	return &ix, nil
}

func (s *Store) writeIndex(ix *ocispec.Index) error {
	b, err := encodeIndex(ix)
	if err != nil {
		return err
	}
	return writeFileAtomic(s.indexPath(), b)
}

// encodeIndex is index.json's bytes for ix.
func encodeIndex(ix *ocispec.Index) ([]byte, error) {
	ix.SchemaVersion = 2
	ix.MediaType = ocispec.MediaTypeImageIndex
	if ix.Manifests == nil {
		ix.Manifests = []ocispec.Descriptor{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ix); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// updateIndex applies fn to index.json under the store lock and writes it atomically.
func (s *Store) updateIndex(fn func(ix *ocispec.Index) error) error {
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	return s.updateIndexLocked(fn)
}

func (s *Store) updateIndexLocked(fn func(ix *ocispec.Index) error) error {
	ix, err := s.Index()
	if err != nil {
		return err
	}
	if err := fn(ix); err != nil {
		return err
	}
	return s.writeIndex(ix)
}

func writeFileAtomic(path string, data []byte) error {
	return atomicfile.WriteFile(path, data, 0o644)
}

func syncDir(dir string) error { return atomicfile.SyncDir(dir) }

// TryLock takes the store-wide advisory lock called name (for example "ingest") without
// waiting. ok is false if another process holds it. The lock ends with unlock or the process.
func (s *Store) TryLock(name string) (unlock func(), ok bool, err error) {
	if !recordName.MatchString(name) {
		return nil, false, fmt.Errorf("lock %q: invalid name", name)
	}
	l := flock.New(filepath.Join(s.root, metaDir, name+".lock"))
	ok, err = l.TryLock()
	if err != nil || !ok {
		return nil, false, err
	}
	return func() { _ = l.Unlock() }, true, nil
}
