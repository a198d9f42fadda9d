package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/internal/jsonlimit"
	"github.com/imgx/imgx/progress"
	"github.com/imgx/imgx/store"
)

// Bounds on what is held in memory while loading. See docs/archive-formats.md.
const (
	maxMetaSize = 8 << 20 // manifest.json, index.json, repositories, oci-layout
	maxBlobMeta = 8 << 20 // a manifest, index or config read back from staging
	// maxMetaTotal bounds the metadata files held together (manifest.json and index.json
	// of a Docker 25 archive, repositories, oci-layout).
	maxMetaTotal = 12 << 20
	// maxJSONValues bounds the objects, arrays and elements of one metadata file, whose
	// decoded form can be a hundred times its size (see internal/jsonlimit).
	maxJSONValues = 1 << 17
	maxEntries    = 1 << 16 // tar entries in one archive
	maxLinkHops   = 16
	// maxNameLen and maxNameDepth bound one entry name or link target (PATH_MAX; a
	// docker or OCI archive needs 3 path elements).
	maxNameLen   = 4096
	maxNameDepth = 64
	// maxHeaderBytes bounds the names, link names and PAX records of all entries taken
	// together: what the loader may keep in memory about the entries.
	maxHeaderBytes = 16 << 20
	// maxRawHeaderBytes (plus 1 KiB per entry for its header block and padding) bounds
	// the decompressed bytes outside entry contents, however the tar reader uses them.
	maxRawHeaderBytes = 2 * maxHeaderBytes
)

// metaNames are the top-level files read into memory instead of being staged as blobs.
var metaNames = map[string]bool{"manifest.json": true, "index.json": true, "repositories": true, "oci-layout": true}

// blobInfo is what the loader knows about one staged file.
type blobInfo struct {
	Digest digest.Digest
	Size   int64
}

// source gives the image builder access to an archive's files by name.
type source interface {
	// meta returns a top-level metadata file (see metaNames), or ok=false if absent.
	meta(name string) (data []byte, ok bool, err error)
	// blob makes sure the named file is staged and returns its digest and size. The
	// error wraps ErrMissingEntry if there is no such file.
	blob(ctx context.Context, name string) (blobInfo, error)
	// kind describes the input for results: archive or directory.
	dir() bool
}

// cleanName normalises an archive entry name (or a name found in metadata) and rejects
// names that could leave the archive root.
func cleanName(name string) (string, error) {
	if err := nameBounds("entry", name); err != nil {
		return "", err
	}
	n := strings.TrimPrefix(name, "./")
	n = strings.TrimSuffix(n, "/")
	switch {
	case n == "" || n == ".":
		return "", nil
	case strings.ContainsRune(n, 0) || strings.ContainsRune(n, '\\'):
		return "", fmt.Errorf("entry %q: %w: invalid character in name", name, ErrUnsafeEntry)
	case strings.HasPrefix(n, "/"):
		return "", fmt.Errorf("entry %s: %w: absolute path", name, ErrUnsafeEntry)
	}
	for _, el := range strings.Split(n, "/") {
		if el == ".." {
			return "", fmt.Errorf("entry %s: %w: path climbs out of the archive (\"..\")", name, ErrUnsafeEntry)
		}
	}
	return path.Clean(n), nil
}

// nameBounds refuses a name (what says which: "entry" or "link target") longer than
// maxNameLen or with more than maxNameDepth path elements.
func nameBounds(what, name string) error {
	if len(name) > maxNameLen {
		return fmt.Errorf("%s %s: %w: name is %d bytes, more than the limit of %d", what, short(name), ErrTooLarge, len(name), maxNameLen)
	}
	if d := strings.Count(name, "/") + 1; d > maxNameDepth {
		return fmt.Errorf("%s %s: %w: name has %d path elements, more than the limit of %d", what, short(name), ErrTooLarge, d, maxNameDepth)
	}
	return nil
}

// short quotes a name for an error message, cut to 64 bytes: hostile names are long.
func short(name string) string {
	if len(name) > 64 {
		return fmt.Sprintf("%q…", name[:64])
	}
	return name
}

// headerBytes is what an entry's header brings that the loader may keep: its name, link
// name and PAX records.
func headerBytes(h *tar.Header) int64 {
	n := int64(len(h.Name) + len(h.Linkname))
	for k, v := range h.PAXRecords {
		n += int64(len(k) + len(v))
	}
	return n
}

// linkTarget resolves a link entry's target to an archive path, rejecting targets outside.
func linkTarget(name, target string, symlink bool) (string, error) {
	if err := nameBounds("entry "+name+": link target", target); err != nil {
		return "", err
	}
	if strings.HasPrefix(target, "/") {
		return "", fmt.Errorf("entry %s: %w: link to absolute path %s", name, ErrUnsafeEntry, target)
	}
	t := target
	if symlink {
		t = path.Join(path.Dir(name), target)
	}
	t = path.Clean(t)
	if t == ".." || strings.HasPrefix(t, "../") || t == "." {
		return "", fmt.Errorf("entry %s: %w: link target %s is outside the archive", name, ErrUnsafeEntry, target)
	}
	return t, nil
}

// knownDigest returns the digest a file's name promises: blobs/sha256/HEX in an OCI layout,
// HEX.json (legacy docker config) or sha256:HEX (go-containerregistry config) at the top.
// It returns "" for other names.
func knownDigest(name string) (digest.Digest, error) {
	if rest, ok := strings.CutPrefix(name, ocispec.ImageBlobsDir+"/"); ok {
		alg, hex, ok := strings.Cut(rest, "/")
		if !ok {
			return "", nil
		}
		if alg != "sha256" {
			return "", fmt.Errorf("entry %s: %w: only sha256 blobs are supported", name, ErrBadEntry)
		}
		d := digest.NewDigestFromEncoded(digest.SHA256, hex)
		if d.Validate() != nil {
			return "", fmt.Errorf("entry %s: %w: file name is not a sha256 digest", name, ErrBadEntry)
		}
		return d, nil
	}
	if strings.Contains(name, "/") {
		return "", nil
	}
	if h, ok := strings.CutSuffix(name, ".json"); ok && isHex64(h) {
		return digest.NewDigestFromEncoded(digest.SHA256, h), nil
	}
	if h, ok := strings.CutPrefix(name, "sha256:"); ok && isHex64(h) {
		return digest.NewDigestFromEncoded(digest.SHA256, h), nil
	}
	return "", nil
}

// legacyV1 reports files of the pre-1.10 layout (<id>/json, <id>/VERSION) that manifest.json
// never refers to: they are skipped, not staged.
func legacyV1(name string) bool {
	dir, file, ok := strings.Cut(name, "/")
	return ok && !strings.Contains(file, "/") && dir != ocispec.ImageBlobsDir && (file == "json" || file == "VERSION")
}

// streamSource holds what a one-pass read of a tar stream staged.
type streamSource struct {
	files map[string]blobInfo
	links map[string]string // link entry -> target archive path
	metas map[string][]byte
	seen  map[string]bool

	metaTotal int // bytes in metas
}

func (s *streamSource) dir() bool { return false }

func (s *streamSource) meta(name string) ([]byte, bool, error) {
	b, ok := s.metas[name]
	return b, ok, nil
}

func (s *streamSource) blob(_ context.Context, name string) (blobInfo, error) {
	n, err := cleanName(name)
	if err != nil {
		return blobInfo{}, err
	}
	orig := n
	for hops := 0; ; hops++ {
		if b, ok := s.files[n]; ok {
			return b, nil
		}
		t, ok := s.links[n]
		if !ok {
			break
		}
		if hops >= maxLinkHops {
			return blobInfo{}, fmt.Errorf("entry %s: %w: too many links (a loop?)", orig, ErrBadEntry)
		}
		n = t
	}
	if n != orig {
		return blobInfo{}, fmt.Errorf("entry %s: %w: link to %s, which is not a file in the archive", orig, ErrMissingEntry, n)
	}
	if s.seen[n] {
		return blobInfo{}, fmt.Errorf("entry %s: %w: not a regular file", n, ErrBadEntry)
	}
	return blobInfo{}, fmt.Errorf("entry %s: %w: not in the archive", n, ErrMissingEntry)
}

// collect reads every entry of tr, staging regular files in tx and keeping metadata files
// in memory.
// tarStream is the part of *tar.Reader that collect uses.
type tarStream interface {
	Next() (*tar.Header, error)
	io.Reader
}

func collect(ctx context.Context, tx *store.Tx, tr tarStream) (*streamSource, error) {
	s := &streamSource{files: map[string]blobInfo{}, links: map[string]string{}, metas: map[string][]byte{}, seen: map[string]bool{}}
	last := ""
	var hdrBytes int64
	for n := 0; ; n++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		h, err := tr.Next()
		if err == io.EOF { // io.EOF itself: a failing source's error may wrap it
			return s, nil
		}
		if err != nil {
			if last == "" {
				return nil, fmt.Errorf("read archive: %w", truncated(err))
			}
			return nil, fmt.Errorf("read archive after entry %s: %w", last, truncated(err))
		}
		if n >= maxEntries {
			return nil, fmt.Errorf("%w: more than %d entries", ErrTooLarge, maxEntries)
		}
		if hdrBytes += headerBytes(h); hdrBytes > maxHeaderBytes {
			return nil, fmt.Errorf("entry %s: %w: tar header metadata (names, link names, PAX records) exceeds the limit of %d bytes", short(h.Name), ErrTooLarge, maxHeaderBytes)
		}
		if h.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		name, err := cleanName(h.Name)
		if err != nil {
			return nil, err
		}
		// A copy: h.Name may share memory with a PAX block of up to 1 MiB.
		name = strings.Clone(name)
		if name == "" {
			continue
		}
		last = name
		if h.Typeflag == tar.TypeDir {
			continue
		}
		if s.seen[name] {
			return nil, fmt.Errorf("entry %s: %w", name, ErrDuplicateEntry)
		}
		s.seen[name] = true
		switch h.Typeflag {
		case tar.TypeSymlink, tar.TypeLink:
			// docker save (before 25) and skopeo link <id>/layer.tar to the one copy of a
			// shared layer. Links are never created on disk: they only alias another entry,
			// resolved when metadata refers to them.
			t, err := linkTarget(name, h.Linkname, h.Typeflag == tar.TypeSymlink)
			if err != nil {
				return nil, err
			}
			s.links[name] = strings.Clone(t)
			continue
		//lint:ignore SA1019 old writers still emit TypeRegA
		case tar.TypeReg, tar.TypeRegA:
		default:
			return nil, fmt.Errorf("entry %s: %w: unsupported entry type %s", name, ErrBadEntry, typeName(h.Typeflag))
		}
		if err := s.add(ctx, tx, name, h.Size, tr); err != nil {
			return nil, err
		}
	}
}

func (s *streamSource) add(ctx context.Context, tx *store.Tx, name string, size int64, r io.Reader) error {
	if metaNames[name] {
		b, err := readMeta(name, size, r)
		if err != nil {
			return err
		}
		if s.metaTotal += len(b); s.metaTotal > maxMetaTotal {
			return fmt.Errorf("entry %s: %w: metadata files exceed %d bytes in all", name, ErrTooLarge, maxMetaTotal)
		}
		s.metas[name] = b
		return nil
	}
	if legacyV1(name) {
		if _, err := io.Copy(io.Discard, r); err != nil {
			return fmt.Errorf("entry %s: %w", name, truncated(err))
		}
		return nil
	}
	b, err := stage(ctx, tx, name, size, r)
	if err != nil {
		return err
	}
	s.files[name] = b
	return nil
}

func readMeta(name string, size int64, r io.Reader) ([]byte, error) {
	if size > maxMetaSize {
		return nil, fmt.Errorf("entry %s: %w: %d bytes is too large for metadata", name, ErrTooLarge, size)
	}
	b, err := io.ReadAll(io.LimitReader(r, maxMetaSize+1))
	if err != nil {
		return nil, fmt.Errorf("entry %s: %w", name, truncated(err))
	}
	if len(b) > maxMetaSize {
		return nil, fmt.Errorf("entry %s: %w: more than %d bytes is too large for metadata", name, ErrTooLarge, maxMetaSize)
	}
	if err := jsonlimit.Check(b, maxJSONValues); err != nil {
		return nil, fmt.Errorf("entry %s: %w: %w", name, ErrTooLarge, err)
	}
	return b, nil
}

// stage writes one file into the transaction, checking it against the digest its name
// promises, if any.
func stage(ctx context.Context, tx *store.Tx, name string, size int64, r io.Reader) (blobInfo, error) {
	want, err := knownDigest(name)
	if err != nil {
		return blobInfo{}, err
	}
	desc, err := tx.Put(ctx, r, ocispec.Descriptor{Digest: want, Size: size})
	if err != nil {
		if errors.Is(err, store.ErrDigestMismatch) || errors.Is(err, store.ErrSizeMismatch) {
			return blobInfo{}, fmt.Errorf("entry %s: %w: %w", name, ErrBadEntry, err)
		}
		return blobInfo{}, fmt.Errorf("entry %s: %w", name, truncated(err))
	}
	return blobInfo{Digest: desc.Digest, Size: desc.Size}, nil
}

// truncated turns the EOF errors of a cut-off tar into a message that says so.
func truncated(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("archive is truncated: %w", err)
	}
	return err
}

// dirSource reads an OCI layout or unpacked docker-archive directory, staging only the
// files the metadata refers to. Every file is reached through an os.Root of the
// directory, directories on the way must be real directories (a symlinked blobs/ could
// point anywhere), and a file that is a link is followed only to a target inside the
// directory, resolved by name.
type dirSource struct {
	root   *os.Root
	tx     *store.Tx
	staged map[string]blobInfo
	p      progress.Progress
}

func (d *dirSource) dir() bool { return true }

func (d *dirSource) meta(name string) ([]byte, bool, error) {
	f, fi, err := d.open(name)
	if errors.Is(err, ErrMissingEntry) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	b, err := readMeta(name, fi.Size(), f)
	return b, err == nil, err
}

func (d *dirSource) blob(ctx context.Context, name string) (blobInfo, error) {
	n, err := cleanName(name)
	if err != nil {
		return blobInfo{}, err
	}
	if b, ok := d.staged[n]; ok {
		return b, nil
	}
	f, fi, err := d.open(n)
	if err != nil {
		return blobInfo{}, err
	}
	defer f.Close()
	b, err := stage(ctx, d.tx, n, fi.Size(), progress.Reader(f, d.p))
	if err != nil {
		return blobInfo{}, err
	}
	d.staged[n] = b
	return b, nil
}

// open opens the regular file name resolves to. O_NONBLOCK and the check after opening
// keep a FIFO swapped in after resolve from blocking or being read.
func (d *dirSource) open(name string) (*os.File, fs.FileInfo, error) {
	n, err := d.resolve(name)
	if err != nil {
		return nil, nil, err
	}
	f, err := d.root.OpenFile(filepath.FromSlash(n), os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("entry %s: %w", name, err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("entry %s: %w: not a regular file", name, ErrBadEntry)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

// resolve finds name under root and returns the name of the regular file it is,
// following symlinks only while they stay inside root. A directory on the way that is
// a symlink is refused.
func (d *dirSource) resolve(name string) (string, error) {
	n, err := cleanName(name)
	if err != nil {
		return "", err
	}
	orig := n
	for hops := 0; ; hops++ {
		if err := d.checkDirs(orig, n); err != nil {
			return "", err
		}
		fi, err := d.root.Lstat(filepath.FromSlash(n))
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("entry %s: %w: not in the directory", orig, ErrMissingEntry)
		}
		if err != nil {
			return "", fmt.Errorf("entry %s: %w", orig, err)
		}
		switch {
		case fi.Mode().IsRegular():
			return n, nil
		case fi.Mode()&fs.ModeSymlink != 0 && hops < maxLinkHops:
			t, err := d.root.Readlink(filepath.FromSlash(n))
			if err != nil {
				return "", fmt.Errorf("entry %s: %w", orig, err)
			}
			if n, err = linkTarget(n, filepath.ToSlash(t), true); err != nil {
				return "", err
			}
		default:
			return "", fmt.Errorf("entry %s: %w: not a regular file", orig, ErrBadEntry)
		}
	}
}

// checkDirs refuses n when a directory on its way is a symlink or not a directory.
func (d *dirSource) checkDirs(orig, n string) error {
	for i := 0; i < len(n); i++ {
		if n[i] != '/' {
			continue
		}
		fi, err := d.root.Lstat(filepath.FromSlash(n[:i]))
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("entry %s: %w: not in the directory", orig, ErrMissingEntry)
		}
		if err != nil {
			return fmt.Errorf("entry %s: %w", orig, err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("entry %s: %w: directory %s is a symbolic link (not followed in a layout directory)", orig, ErrBadEntry, n[:i])
		}
		if !fi.IsDir() {
			return fmt.Errorf("entry %s: %w: not in the directory", orig, ErrMissingEntry)
		}
	}
	return nil
}

func typeName(t byte) string {
	switch t {
	case tar.TypeChar:
		return "character device"
	case tar.TypeBlock:
		return "block device"
	case tar.TypeFifo:
		return "fifo"
	case tar.TypeGNUSparse:
		return "sparse file"
	}
	return fmt.Sprintf("%q", t)
}
