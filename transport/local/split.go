package local

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/imgx/imgx/internal/fsstat"
	"github.com/imgx/imgx/transport"
)

// FATSplitSize is the volume size used on FAT filesystems, whose files
// cannot reach 4 GiB.
const FATSplitSize = 4<<30 - 1<<20

// IndexSuffix names the index of a volume set: NAME.volumes lists the
// volumes NAME.001, NAME.002, ... with their sizes and sha256. It is
// written last, so a set without one is unfinished.
const IndexSuffix = ".volumes"

const msdosSuperMagic = 0x4d44

// fsType is a variable so tests can pretend to be on FAT.
var fsType = fsstat.Type

func (b *Backend) splitSize(name string) (int64, error) {
	switch {
	case b.opts.SplitSize > 0:
		return b.opts.SplitSize, nil
	case b.opts.SplitSize < 0:
		return 0, nil
	}
	t, err := fsType(filepath.Dir(b.path(name)))
	if err != nil {
		return 0, transport.Permanent(fmt.Errorf("create: %w", err))
	}
	if t != msdosSuperMagic {
		return 0, nil
	}
	if b.opts.Notice != nil {
		b.opts.Notice(fmt.Sprintf("%s is on a FAT filesystem (files stop at 4 GiB): writing volumes %s.001, %s.002, ... of at most %s",
			filepath.Dir(b.path(name)), path.Base(name), path.Base(name), transport.FormatBytes(FATSplitSize)))
	}
	return FATSplitSize, nil
}

// VolumeName is the name of volume i (from 1) of the set name.
func VolumeName(name string, i int) string { return fmt.Sprintf("%s.%03d", name, i) }

var volumeRE = regexp.MustCompile(`^(.+)\.([0-9]{3,})$`)

type volumeIndex struct {
	Version   int      `json:"version"`
	Size      int64    `json:"size"`
	SplitSize int64    `json:"split_size"`
	Volumes   []volume `json:"volumes"`
}

type volume struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// splitUpload writes temporary volumes .NAME.001.imgx-part, ... and
// publishes them, then the index, at Commit.
type splitUpload struct {
	ctx       context.Context
	b         *Backend
	name      string
	split     int64
	cur       *os.File // volume cur (0-based) open for writing
	curIdx    int
	curOff    int64 // bytes in volume curIdx
	hashes    []hash.Hash
	off       int64
	state     []byte
	statePath string
	written   bool
	done      bool
}

func (b *Backend) tempVolume(name string, i int) string {
	return b.path(transport.TempName(VolumeName(name, i+1)))
}

func (b *Backend) createSplit(ctx context.Context, name string, split int64) (*splitUpload, error) {
	if _, err := os.Stat(filepath.Dir(b.path(name))); err != nil {
		return nil, transport.Permanent(fmt.Errorf("create: %w", err))
	}
	u := &splitUpload{ctx: ctx, b: b, name: name, split: split, statePath: b.path(transport.StateName(name))}
	// Resume: full volumes, then at most one partial one.
	i := 0
	for ; ; i++ {
		fi, err := os.Stat(b.tempVolume(name, i))
		if err != nil {
			break
		}
		u.off += min(fi.Size(), split)
		if fi.Size() < split {
			i++
			break
		}
	}
	for j := i; ; j++ { // anything after a partial volume is stale
		if os.Remove(b.tempVolume(name, j)) != nil {
			break
		}
	}
	if u.off > 0 {
		if st, err := os.ReadFile(u.statePath); err == nil {
			u.state = st
		}
	}
	if err := u.seek(u.off); err != nil {
		return nil, err
	}
	return u, nil
}

// seek opens the volume holding byte off for writing at off, cutting it
// there and removing later volumes.
func (u *splitUpload) seek(off int64) error {
	if u.cur != nil {
		u.cur.Close()
		u.cur = nil
	}
	idx := int(off / u.split)
	for j := idx + 1; ; j++ {
		if os.Remove(u.b.tempVolume(u.name, j)) != nil {
			break
		}
	}
	f, err := os.OpenFile(u.b.tempVolume(u.name, idx), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return transport.Permanent(fmt.Errorf("create volume: %w", err))
	}
	inner := off % u.split
	if err := f.Truncate(inner); err != nil {
		f.Close()
		return transport.Permanent(err)
	}
	if _, err := f.Seek(inner, io.SeekStart); err != nil {
		f.Close()
		return transport.Permanent(err)
	}
	u.cur, u.curIdx, u.curOff, u.off = f, idx, inner, off
	u.hashes = make([]hash.Hash, idx+1) // earlier volumes are hashed again at Commit
	if inner == 0 {
		u.hashes[idx] = sha256.New()
	}
	return nil
}

func (u *splitUpload) Write(p []byte) (int, error) {
	if u.done {
		return 0, transport.ErrClosed
	}
	if err := u.ctx.Err(); err != nil {
		return 0, err
	}
	u.written = true
	total := 0
	for len(p) > 0 {
		if u.curOff == u.split {
			if err := u.next(); err != nil {
				return total, err
			}
		}
		chunk := p[:min(int64(len(p)), u.split-u.curOff)]
		n, err := u.cur.Write(chunk)
		if h := u.hashes[u.curIdx]; h != nil {
			h.Write(chunk[:n])
		}
		u.curOff += int64(n)
		u.off += int64(n)
		total += n
		if err != nil {
			return total, transport.Permanent(err)
		}
		p = p[n:]
	}
	return total, nil
}

func (u *splitUpload) next() error {
	if err := u.cur.Sync(); err != nil {
		return transport.Permanent(err)
	}
	u.cur.Close()
	f, err := os.OpenFile(u.b.tempVolume(u.name, u.curIdx+1), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return transport.Permanent(fmt.Errorf("create volume: %w", err))
	}
	u.cur, u.curIdx, u.curOff = f, u.curIdx+1, 0
	u.hashes = append(u.hashes, sha256.New())
	return nil
}

func (u *splitUpload) Offset() int64 { return u.off }
func (u *splitUpload) State() []byte { return u.state }

func (u *splitUpload) Truncate(ctx context.Context, size int64) error {
	if err := transport.CheckTruncate(u.done, u.written, size, u.off); err != nil {
		return err
	}
	return u.seek(size)
}

func (u *splitUpload) Checkpoint(ctx context.Context, state []byte) error {
	if u.done {
		return transport.ErrClosed
	}
	if err := unix.Fdatasync(int(u.cur.Fd())); err != nil {
		return transport.Permanent(err)
	}
	if err := os.WriteFile(u.statePath, state, 0o644); err != nil {
		return transport.Permanent(fmt.Errorf("save resume state: %w", err))
	}
	return nil
}

func (u *splitUpload) Commit(ctx context.Context) error {
	if u.done {
		return transport.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := u.cur.Sync(); err != nil {
		return transport.Permanent(err)
	}
	u.cur.Close()
	u.done = true
	n := u.curIdx + 1
	if u.curOff == 0 && n > 1 { // the stream ended exactly at a volume boundary
		os.Remove(u.b.tempVolume(u.name, u.curIdx))
		n--
	}
	idx := volumeIndex{Version: 1, Size: u.off, SplitSize: u.split}
	for i := 0; i < n; i++ {
		tmp := u.b.tempVolume(u.name, i)
		fi, err := os.Stat(tmp)
		if err != nil {
			return transport.Permanent(err)
		}
		var sum string
		if h := u.hashes[i]; h != nil {
			sum = hex.EncodeToString(h.Sum(nil))
		} else if sum, err = hashFile(ctx, tmp); err != nil {
			return err
		}
		idx.Volumes = append(idx.Volumes, volume{Name: path.Base(VolumeName(u.name, i+1)), Size: fi.Size(), SHA256: sum})
	}
	// The index makes the set exist: remove the old one first, rename the
	// volumes, write the new one last.
	indexPath := u.b.path(u.name + IndexSuffix)
	old, _ := readIndex(indexPath)
	if err := os.Remove(indexPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return transport.Permanent(err)
	}
	for i := 0; i < n; i++ {
		if err := os.Rename(u.b.tempVolume(u.name, i), u.b.path(VolumeName(u.name, i+1))); err != nil {
			return transport.Permanent(fmt.Errorf("publish volume: %w", err))
		}
	}
	if old != nil {
		for i := n; i < len(old.Volumes); i++ {
			os.Remove(u.b.path(VolumeName(u.name, i+1)))
		}
	}
	js, _ := json.MarshalIndent(&idx, "", "  ")
	tmpIndex := u.b.path(transport.TempName(u.name + IndexSuffix))
	if err := writeSync(tmpIndex, js); err != nil {
		return err
	}
	if err := os.Rename(tmpIndex, indexPath); err != nil {
		return transport.Permanent(err)
	}
	os.Remove(u.statePath)
	return syncDir(filepath.Dir(indexPath))
}

func writeSync(p string, data []byte) error {
	f, err := os.Create(p)
	if err != nil {
		return transport.Permanent(err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if e := f.Close(); err == nil {
		err = e
	}
	if err != nil {
		return transport.Permanent(err)
	}
	return nil
}

func hashFile(ctx context.Context, p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", transport.Permanent(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, transport.ContextReader(ctx, f)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (u *splitUpload) Abort(context.Context) error {
	if u.done {
		return transport.ErrClosed
	}
	u.done = true
	return u.cur.Close()
}

func (u *splitUpload) Discard(context.Context) error {
	if !u.done {
		u.done = true
		u.cur.Close()
	}
	for i := 0; ; i++ {
		if os.Remove(u.b.tempVolume(u.name, i)) != nil {
			break
		}
	}
	os.Remove(u.statePath)
	return nil
}

func readIndex(p string) (*volumeIndex, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var idx volumeIndex
	if err := json.Unmarshal(data, &idx); err != nil || idx.Version != 1 {
		return nil, transport.Permanent(fmt.Errorf("volume index %s: unreadable (%v)", filepath.Base(p), err))
	}
	return &idx, nil
}

// volumeSet is a published set of volumes read as one stream.
type volumeSet struct {
	b       *Backend
	base    string // name of the set, without volume number
	idx     *volumeIndex
	modTime time.Time
}

// volumeSet finds the set that name belongs to: name is the set's base
// name, one of its volumes, or its index. A set without an index, a
// missing volume or one of the wrong size is a permanent error naming
// the volume; no set at all wraps fs.ErrNotExist.
func (b *Backend) volumeSet(name string) (*volumeSet, error) {
	base := strings.TrimSuffix(name, IndexSuffix)
	if m := volumeRE.FindStringSubmatch(name); m != nil {
		base = m[1]
	}
	indexPath := b.path(base + IndexSuffix)
	idx, err := readIndex(indexPath)
	if errors.Is(err, fs.ErrNotExist) {
		if _, verr := os.Stat(b.path(VolumeName(base, 1))); verr == nil {
			return nil, transport.Permanent(fmt.Errorf("volume set %s: index %s missing: the set is unfinished or the index was lost",
				base, path.Base(base)+IndexSuffix))
		}
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	if err != nil {
		return nil, err
	}
	for _, v := range idx.Volumes {
		fi, err := os.Stat(b.path(path.Join(path.Dir(base), v.Name)))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, transport.Permanent(fmt.Errorf("volume set %s: volume %s is missing", base, v.Name))
		}
		if err != nil {
			return nil, transport.Permanent(fmt.Errorf("volume set %s: %w", base, err))
		}
		if fi.Size() != v.Size {
			return nil, transport.Permanent(fmt.Errorf("volume set %s: volume %s is damaged: %d bytes, want %d", base, v.Name, fi.Size(), v.Size))
		}
	}
	vs := &volumeSet{b: b, base: base, idx: idx}
	if fi, err := os.Stat(indexPath); err == nil {
		vs.modTime = fi.ModTime()
	}
	return vs, nil
}

func (vs *volumeSet) info() transport.FileInfo {
	return transport.FileInfo{Name: path.Base(vs.base), Size: vs.idx.Size, ModTime: vs.modTime}
}

func (vs *volumeSet) open(ctx context.Context, offset int64) (io.ReadCloser, error) {
	r := &volumeReader{ctx: ctx, vs: vs}
	for r.i < len(vs.idx.Volumes) && offset >= vs.idx.Volumes[r.i].Size {
		offset -= vs.idx.Volumes[r.i].Size
		r.i++
	}
	if r.i < len(vs.idx.Volumes) {
		if err := r.openVolume(offset); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// volumeReader chains the volumes and checks each one it reads from the
// start against the sha256 in the index, so damage is reported by volume.
type volumeReader struct {
	ctx context.Context
	vs  *volumeSet
	i   int
	f   *os.File
	h   hash.Hash // nil when the volume was entered at an offset
}

func (r *volumeReader) openVolume(offset int64) error {
	v := r.vs.idx.Volumes[r.i]
	f, err := os.Open(r.vs.b.path(path.Join(path.Dir(r.vs.base), v.Name)))
	if err != nil {
		return transport.Permanent(fmt.Errorf("volume %s: %w", v.Name, err))
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		f.Close()
		return err
	}
	r.f, r.h = f, nil
	if offset == 0 {
		r.h = sha256.New()
	}
	return nil
}

func (r *volumeReader) Read(p []byte) (int, error) {
	for {
		if err := r.ctx.Err(); err != nil {
			return 0, err
		}
		if r.f == nil {
			return 0, io.EOF
		}
		n, err := r.f.Read(p)
		if r.h != nil {
			r.h.Write(p[:n])
		}
		if err == io.EOF {
			v := r.vs.idx.Volumes[r.i]
			if r.h != nil && hex.EncodeToString(r.h.Sum(nil)) != v.SHA256 {
				return n, transport.Permanent(fmt.Errorf("volume %s is damaged: sha256 differs from %s", v.Name, path.Base(r.vs.base)+IndexSuffix))
			}
			r.f.Close()
			r.f = nil
			r.i++
			if r.i < len(r.vs.idx.Volumes) {
				if err := r.openVolume(0); err != nil {
					return n, err
				}
			}
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (r *volumeReader) Close() error {
	if r.f != nil {
		return r.f.Close()
	}
	return nil
}

// remove deletes the index first, so a half-removed set is no longer a set.
func (vs *volumeSet) remove() error {
	if err := os.Remove(vs.b.path(vs.base + IndexSuffix)); err != nil {
		return err
	}
	var errs []error
	for _, v := range vs.idx.Volumes {
		if err := os.Remove(vs.b.path(path.Join(path.Dir(vs.base), v.Name))); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// rename moves the volumes, then the index, to newname's directory and name.
func (vs *volumeSet) rename(newname string) error {
	if _, err := os.Lstat(vs.b.path(newname)); err == nil {
		return &fs.PathError{Op: "rename", Path: newname, Err: fs.ErrExist}
	}
	if _, err := os.Lstat(vs.b.path(newname + IndexSuffix)); err == nil {
		return &fs.PathError{Op: "rename", Path: newname, Err: fs.ErrExist}
	}
	if err := os.MkdirAll(filepath.Dir(vs.b.path(newname)), 0o755); err != nil {
		return err
	}
	idx := *vs.idx
	idx.Volumes = slices.Clone(idx.Volumes)
	for i, v := range idx.Volumes {
		to := VolumeName(newname, i+1)
		if err := renameNoReplace(vs.b.path(path.Join(path.Dir(vs.base), v.Name)), vs.b.path(to), to); err != nil {
			return err
		}
		idx.Volumes[i].Name = path.Base(to)
	}
	js, _ := json.MarshalIndent(&idx, "", "  ")
	tmp := vs.b.path(transport.TempName(newname + IndexSuffix))
	if err := writeSync(tmp, js); err != nil {
		return err
	}
	if err := renameNoReplace(tmp, vs.b.path(newname+IndexSuffix), newname+IndexSuffix); err != nil {
		return err
	}
	return os.Remove(vs.b.path(vs.base + IndexSuffix))
}

// isVolumeName reports whether name is a volume (NAME.001) or the index
// of a published set, which are read as the whole set.
func (b *Backend) isVolumeName(name string) bool {
	base := ""
	if m := volumeRE.FindStringSubmatch(name); m != nil {
		base = m[1]
	} else if s, ok := strings.CutSuffix(name, IndexSuffix); ok {
		base = s
	} else {
		return false
	}
	_, err := os.Stat(b.path(base + IndexSuffix))
	return err == nil
}
