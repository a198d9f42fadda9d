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
	"math"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/imgx/imgx/internal/fsstat"
	"github.com/imgx/imgx/progress"
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
			filepath.Dir(b.path(name)), path.Base(name), path.Base(name), progress.Size(FATSplitSize)))
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

// parseIndex reads a volume index of the set setBase (a base name). The index comes
// from the carrier: it may name only setBase.001, setBase.002, ... in that order, with
// sizes that add up; anything else marks the set damaged, so that no name it carries
// ever becomes a path. display names the index file in errors.
func parseIndex(data []byte, setBase, display string) (*volumeIndex, error) {
	var idx volumeIndex
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, transport.Permanent(fmt.Errorf("volume index %s: unreadable: %w", display, err))
	}
	if idx.Version != 1 {
		return nil, transport.Permanent(fmt.Errorf("volume index %s: unknown version %d", display, idx.Version))
	}
	if len(idx.Volumes) == 0 || len(idx.Volumes) > maxVolumes {
		return nil, transport.Permanent(fmt.Errorf("volume index %s: %d volumes (want 1 to %d): the set is damaged", display, len(idx.Volumes), maxVolumes))
	}
	var total int64
	for i, v := range idx.Volumes {
		want := VolumeName(setBase, i+1)
		if v.Name != want {
			return nil, transport.Permanent(fmt.Errorf("volume index %s: entry %d names %q, want %q: the set is damaged", display, i+1, v.Name, want))
		}
		if v.Size < 0 || v.Size > math.MaxInt64-total {
			return nil, transport.Permanent(fmt.Errorf("volume index %s: volume %s has size %d: the set is damaged", display, v.Name, v.Size))
		}
		if len(v.SHA256) != 64 || strings.Trim(v.SHA256, "0123456789abcdef") != "" {
			return nil, transport.Permanent(fmt.Errorf("volume index %s: volume %s has sha256 %q: the set is damaged", display, v.Name, v.SHA256))
		}
		total += v.Size
	}
	if total != idx.Size {
		return nil, transport.Permanent(fmt.Errorf("volume index %s: volumes add up to %d bytes, index says %d: the set is damaged", display, total, idx.Size))
	}
	return &idx, nil
}

// maxVolumes bounds a volume index: 100000 volumes of 4 GiB are 400 TiB.
const maxVolumes = 100000

// splitUpload writes temporary volumes .NAME.001.imgx-part, ... in the directory d
// and publishes them, then the index, at Commit.
type splitUpload struct {
	ctx       context.Context
	b         *Backend
	d         *os.File // the directory of the set
	base      string   // the set's base name in d
	display   string
	split     int64
	cur       *os.File // volume cur (0-based) open for writing
	curIdx    int
	curOff    int64 // bytes in volume curIdx
	hashes    []hash.Hash
	off       int64
	state     []byte
	stateName string
	written   bool
	done      bool
}

// tempVolume is the temporary name of volume i (from 0) in d.
func (u *splitUpload) tempVolume(i int) string {
	return "." + VolumeName(u.base, i+1) + transport.TempSuffix
}

func (u *splitUpload) unlink(name string) error {
	return unix.Unlinkat(int(u.d.Fd()), name, 0)
}

func (b *Backend) createSplit(ctx context.Context, name string, split int64) (*splitUpload, error) {
	d, base, err := b.parent(name)
	if err != nil {
		return nil, transport.Permanent(fmt.Errorf("create: %w", err))
	}
	u := &splitUpload{ctx: ctx, b: b, d: d, base: base, display: b.path(name), split: split,
		stateName: "." + base + transport.StateSuffix}
	// Resume: full volumes, then at most one partial one. Anything but a regular
	// file with one link is refused, not followed or reused.
	i := 0
	for ; ; i++ {
		st, err := lstatIn(d, u.tempVolume(i))
		if err != nil {
			break
		}
		if err := kind(st.Mode); err != nil {
			d.Close()
			return nil, refusal(transport.Permanent(fmt.Errorf("create: %s: %w", b.path(u.tempVolume(i)), err)), b.path(u.tempVolume(i)))
		}
		if st.Nlink > 1 {
			d.Close()
			return nil, refusal(transport.Permanent(fmt.Errorf("create: %s: %w", b.path(u.tempVolume(i)), ErrLinked)), b.path(u.tempVolume(i)))
		}
		u.off += min(st.Size, split)
		if st.Size < split {
			i++
			break
		}
	}
	for j := i; ; j++ { // anything after a partial volume is stale
		if u.unlink(u.tempVolume(j)) != nil {
			break
		}
	}
	if u.off > 0 {
		var err error
		if u.state, err = b.resumeState(d, u.stateName, name); err != nil {
			d.Close()
			return nil, err
		}
	}
	if err := u.seek(u.off); err != nil {
		d.Close()
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
		if u.unlink(u.tempVolume(j)) != nil {
			break
		}
	}
	f, err := openTemp(u.d, u.tempVolume(idx), u.b.path(path.Join(path.Dir(u.display), u.tempVolume(idx))))
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
	if err := beginWrite(u.ctx, u.done, &u.written); err != nil {
		return 0, err
	}
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
	// A fresh file: whatever is at the name (left over, or planted) is unlinked,
	// never followed.
	name := u.tempVolume(u.curIdx + 1)
	_ = u.unlink(name)
	f, err := createIn(u.d, name, filepath.Join(filepath.Dir(u.display), name))
	if err != nil {
		return transport.Permanent(fmt.Errorf("create volume: %w", err))
	}
	u.cur, u.curIdx, u.curOff = f, u.curIdx+1, 0
	u.hashes = append(u.hashes, sha256.New())
	return nil
}

func (u *splitUpload) Offset() int64 { return u.off }
func (u *splitUpload) State() []byte { return u.state }

// ReadPartialAt reads back the temporary volumes (transport.PartialReader), opened
// without following links like every file of the set.
func (u *splitUpload) ReadPartialAt(p []byte, off int64) (int, error) {
	if u.done || u.written {
		return 0, transport.ErrClosed
	}
	total := 0
	for len(p) > 0 {
		if off >= u.off {
			return total, io.EOF
		}
		idx := int(off / u.split)
		inner := off % u.split
		chunk := p[:min(int64(len(p)), u.split-inner, u.off-off)]
		var f *os.File
		if idx == u.curIdx {
			f = u.cur
		} else {
			var err error
			f, err = openIn(u.d, u.tempVolume(idx), os.O_RDONLY, filepath.Join(filepath.Dir(u.display), u.tempVolume(idx)))
			if err != nil {
				return total, err
			}
		}
		n, err := f.ReadAt(chunk, inner)
		if f != u.cur {
			f.Close()
		}
		total += n
		if err != nil {
			return total, err
		}
		p, off = p[n:], off+int64(n)
	}
	return total, nil
}

func (u *splitUpload) Truncate(ctx context.Context, size int64) error {
	if err := transport.CheckTruncate(u.done, u.written, size, u.off); err != nil {
		return err
	}
	return u.seek(size)
}

func (u *splitUpload) Checkpoint(ctx context.Context, state []byte) error {
	return checkpoint(ctx, u.done, u.cur, u.d, u.stateName, u.display, state)
}

func (u *splitUpload) Commit(ctx context.Context) error {
	if err := ready(ctx, u.done); err != nil {
		return err
	}
	if err := u.cur.Sync(); err != nil {
		return transport.Permanent(err)
	}
	u.cur.Close()
	u.done = true
	defer u.d.Close()
	n := u.curIdx + 1
	if u.curOff == 0 && n > 1 { // the stream ended exactly at a volume boundary
		_ = u.unlink(u.tempVolume(u.curIdx))
		n--
	}
	idx := volumeIndex{Version: 1, Size: u.off, SplitSize: u.split}
	for i := 0; i < n; i++ {
		tmp := u.tempVolume(i)
		st, err := lstatIn(u.d, tmp)
		if err != nil {
			return transport.Permanent(fmt.Errorf("volume %s: %w", tmp, err))
		}
		var sum string
		if h := u.hashes[i]; h != nil {
			sum = hex.EncodeToString(h.Sum(nil))
		} else if sum, err = hashFile(ctx, u.d, tmp); err != nil {
			return err
		}
		idx.Volumes = append(idx.Volumes, volume{Name: VolumeName(u.base, i+1), Size: st.Size, SHA256: sum})
	}
	// The index makes the set exist: remove the old one first, rename the
	// volumes, write the new one last.
	indexName := u.base + IndexSuffix
	var old *volumeIndex
	if data, err := readSmall(u.d, indexName, indexName); err == nil {
		old, _ = parseIndex(data, u.base, indexName)
	}
	if err := u.unlink(indexName); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return transport.Permanent(err)
	}
	for i := 0; i < n; i++ {
		if err := renameIn(u.d, u.tempVolume(i), u.d, VolumeName(u.base, i+1)); err != nil {
			return transport.Permanent(fmt.Errorf("publish volume: %w", err))
		}
	}
	if old != nil {
		for i := n; i < len(old.Volumes); i++ {
			_ = u.unlink(VolumeName(u.base, i+1))
		}
	}
	js, _ := json.MarshalIndent(&idx, "", "  ")
	if err := writeFileIn(u.d, indexName, js, false, u.display+IndexSuffix); err != nil {
		return err
	}
	_ = u.unlink(u.stateName)
	return syncDir(u.d)
}

func hashFile(ctx context.Context, d *os.File, name string) (string, error) {
	f, err := openIn(d, name, os.O_RDONLY, name)
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

func (u *splitUpload) Abort(context.Context) error { return abortFiles(&u.done, u.cur, u.d) }

func (u *splitUpload) Discard(context.Context) error {
	if err := finishOnce(&u.done); err != nil {
		return err
	}
	u.cur.Close()
	defer u.d.Close()
	for i := 0; ; i++ {
		if u.unlink(u.tempVolume(i)) != nil {
			break
		}
	}
	_ = u.unlink(u.stateName)
	return nil
}

// volumeSet is a published set of volumes read as one stream.
type volumeSet struct {
	b       *Backend
	dir     string // directory of the set inside the root ("." for the root)
	base    string // name of the set, without volume number
	idx     *volumeIndex
	modTime time.Time
}

// volumeSet finds the set that name belongs to: name is the set's base
// name, one of its volumes, or its index. A set without an index, a
// damaged index, a missing volume or one of the wrong size is a permanent
// error naming the index or volume; no set at all wraps fs.ErrNotExist.
func (b *Backend) volumeSet(name string) (*volumeSet, error) {
	base := strings.TrimSuffix(name, IndexSuffix)
	if m := volumeRE.FindStringSubmatch(name); m != nil {
		base = m[1]
	}
	dir, setBase := dirOf(base)
	d, err := b.openDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
		return nil, err
	}
	defer d.Close()
	indexDisplay := b.path(base + IndexSuffix)
	data, err := readSmall(d, setBase+IndexSuffix, indexDisplay)
	if errors.Is(err, fs.ErrNotExist) {
		if _, verr := lstatIn(d, VolumeName(setBase, 1)); verr == nil {
			return nil, transport.Permanent(fmt.Errorf("volume set %s: index %s missing: the set is unfinished or the index was lost",
				base, setBase+IndexSuffix))
		}
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	if err != nil {
		return nil, transport.Permanent(fmt.Errorf("volume set %s: %w", base, err))
	}
	idx, err := parseIndex(data, setBase, indexDisplay)
	if err != nil {
		return nil, err
	}
	for _, v := range idx.Volumes {
		st, err := lstatIn(d, v.Name)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, transport.Permanent(fmt.Errorf("volume set %s: volume %s is missing", base, v.Name))
		}
		if err != nil {
			return nil, transport.Permanent(fmt.Errorf("volume set %s: %w", base, err))
		}
		if err := kind(st.Mode); err != nil {
			return nil, transport.Permanent(fmt.Errorf("volume set %s: volume %s %w", base, v.Name, err))
		}
		if st.Size != v.Size {
			return nil, transport.Permanent(fmt.Errorf("volume set %s: volume %s is damaged: %d bytes, want %d", base, v.Name, st.Size, v.Size))
		}
	}
	vs := &volumeSet{b: b, dir: dir, base: base, idx: idx}
	if st, err := lstatIn(d, setBase+IndexSuffix); err == nil {
		vs.modTime = time.Unix(st.Mtim.Unix())
	}
	return vs, nil
}

// volume is the name of volume v inside the root.
func (vs *volumeSet) volume(v volume) string { return path.Join(vs.dir, v.Name) }

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
	f, err := r.vs.b.openFile(r.vs.volume(v))
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
	if err := vs.b.root.Remove(vs.base + IndexSuffix); err != nil {
		return err
	}
	var errs []error
	for _, v := range vs.idx.Volumes {
		if err := vs.b.root.Remove(vs.volume(v)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// rename moves the volumes, then the index, to newname's directory and name.
func (vs *volumeSet) rename(newname string) error {
	b := vs.b
	if _, err := b.lstat(newname); err == nil {
		return &fs.PathError{Op: "rename", Path: newname, Err: fs.ErrExist}
	}
	if _, err := b.lstat(newname + IndexSuffix); err == nil {
		return &fs.PathError{Op: "rename", Path: newname, Err: fs.ErrExist}
	}
	newDir, newBase := dirOf(newname)
	if newDir != "." {
		if err := b.root.MkdirAll(newDir, 0o755); err != nil {
			return err
		}
	}
	from, err := b.openDir(vs.dir)
	if err != nil {
		return err
	}
	defer from.Close()
	to, err := b.openDir(newDir)
	if err != nil {
		return err
	}
	defer to.Close()
	// Every target volume must be free before the first moves: a stray NAME.002 there
	// would otherwise leave the set half moved, readable under neither name.
	for i := range vs.idx.Volumes {
		if _, err := lstatIn(to, VolumeName(newBase, i+1)); err == nil {
			return &fs.PathError{Op: "rename", Path: VolumeName(newname, i+1), Err: fs.ErrExist}
		}
	}
	idx := *vs.idx
	idx.Volumes = slices.Clone(idx.Volumes)
	for i, v := range idx.Volumes {
		target := VolumeName(newBase, i+1)
		if err := renameNoReplace(from, v.Name, to, target); err != nil {
			// Put back what moved (taken meanwhile): the set stays whole where it was.
			for j := i - 1; j >= 0; j-- {
				renameNoReplace(to, idx.Volumes[j].Name, from, vs.idx.Volumes[j].Name)
			}
			return err
		}
		idx.Volumes[i].Name = target
	}
	js, _ := json.MarshalIndent(&idx, "", "  ")
	if err := writeFileIn(to, newBase+IndexSuffix, js, true, newname+IndexSuffix); err != nil {
		return err
	}
	_, oldBase := dirOf(vs.base)
	return unix.Unlinkat(int(from.Fd()), oldBase+IndexSuffix, 0)
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
	_, err := b.lstat(base + IndexSuffix)
	return err == nil
}
