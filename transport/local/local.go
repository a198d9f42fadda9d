package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/imgx/imgx/internal/fsstat"
	"github.com/imgx/imgx/transport"
)

// Options configures a local backend. The zero value is ready to use.
type Options struct {
	// SplitSize, when > 0, splits uploads into volumes of at most this
	// many bytes. When 0, uploads to a FAT filesystem are split at
	// FATSplitSize and others are not. When < 0, nothing is split.
	SplitSize int64
	// Notice, if set, is told about decisions a user should hear of
	// (automatic splitting on FAT32).
	Notice func(msg string)
}

// Backend is a directory on a local filesystem. Every operation goes through an
// os.Root, and the last element of every name is opened without following links (see
// root.go): no name, whatever a caller, a listing or a volume index says, reaches a
// file outside the directory, and nothing is written through a link planted in it.
type Backend struct {
	dir  string
	root *os.Root
	opts Options
}

var _ transport.Backend = (*Backend)(nil)
var _ transport.SpaceReporter = (*Backend)(nil)

// New opens the existing directory root. A missing directory is a
// permanent error wrapping fs.ErrNotExist.
func New(root string, opts Options) (*Backend, error) {
	fi, err := os.Stat(root)
	if err != nil {
		return nil, transport.Permanent(fmt.Errorf("open directory: %w", err))
	}
	if !fi.IsDir() {
		return nil, transport.Permanent(fmt.Errorf("open directory %s: not a directory", root))
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, transport.Permanent(fmt.Errorf("open directory: %w", err))
	}
	return &Backend{dir: root, root: r, opts: opts}, nil
}

// Location returns the root directory.
func (b *Backend) Location() string { return b.dir }

// path is name under the root, for messages and statfs only: files are reached
// through b.root.
func (b *Backend) path(name string) string {
	return filepath.Join(b.dir, filepath.FromSlash(name))
}

func (b *Backend) notice(format string, args ...any) {
	if b.opts.Notice != nil {
		b.opts.Notice(fmt.Sprintf(format, args...))
	}
}

// Create implements transport.Backend.
func (b *Backend) Create(ctx context.Context, name string) (transport.Upload, error) {
	if err := transport.CheckName(name); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if split, err := b.splitSize(name); err != nil {
		return nil, err
	} else if split > 0 {
		return b.createSplit(ctx, name, split)
	}
	return b.createFile(ctx, name)
}

func (b *Backend) createFile(ctx context.Context, name string) (*upload, error) {
	d, base, err := b.parent(name)
	if err != nil {
		return nil, transport.Permanent(fmt.Errorf("create: %w", err))
	}
	tmp := "." + base + transport.TempSuffix
	f, err := openTemp(d, tmp, b.path(transport.TempName(name)))
	if err != nil {
		d.Close()
		return nil, transport.Permanent(fmt.Errorf("create: %w", err))
	}
	off, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		d.Close()
		return nil, transport.Permanent(fmt.Errorf("create: %w", err))
	}
	u := &upload{ctx: ctx, d: d, f: f, tmp: tmp, final: base, stateName: "." + base + transport.StateSuffix,
		display: b.path(name), off: off}
	if off > 0 {
		if u.state, err = b.resumeState(d, u.stateName, name); err != nil {
			f.Close()
			d.Close()
			return nil, err
		}
	}
	return u, nil
}

// resumeState reads the resume state of an interrupted upload of name (stateName in
// d); a missing one is nil, a link or special file there an error.
func (b *Backend) resumeState(d *os.File, stateName, name string) ([]byte, error) {
	st, err := readSmall(d, stateName, b.path(transport.StateName(name)))
	switch {
	case err == nil:
		return st, nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	}
	return nil, transport.Permanent(fmt.Errorf("create: resume state: %w", refusal(err, b.path(transport.StateName(name)))))
}

// upload writes .NAME.imgx-part in the directory d, which it keeps open so that
// Commit renames in the same directory whatever happens to the path meanwhile.
type upload struct {
	ctx        context.Context
	d          *os.File
	f          *os.File
	tmp, final string // base names in d
	stateName  string
	display    string // final path, for messages
	off        int64
	state      []byte
	written    bool
	done       bool
	bg         bgCheckpoint // checkpoints under way
}

func (u *upload) Write(p []byte) (int, error) {
	if err := beginWrite(u.ctx, u.done, &u.written); err != nil {
		return 0, err
	}
	if err := u.bg.failed(); err != nil {
		return 0, err
	}
	n, err := u.f.Write(p)
	if n > 0 {
		// Start writing these bytes to the disk now, without waiting: the checkpoints'
		// and Commit's syncs then find little left to flush, and the disk works while
		// the producer (a save reading the store) goes on, instead of after it. Only a
		// hint: a filesystem without it loses nothing.
		_ = unix.SyncFileRange(int(u.f.Fd()), u.off, int64(n), unix.SYNC_FILE_RANGE_WRITE)
	}
	u.off += int64(n)
	if err != nil {
		err = transport.Permanent(err)
	}
	return n, err
}

func (u *upload) Offset() int64 { return u.off }
func (u *upload) State() []byte { return u.state }

// ReadPartialAt reads back the temporary file (transport.PartialReader): resuming by
// comparison costs a read of the stick, not a rewrite.
func (u *upload) ReadPartialAt(p []byte, off int64) (int, error) {
	if u.done || u.written {
		return 0, transport.ErrClosed
	}
	return u.f.ReadAt(p, off)
}

func (u *upload) Truncate(ctx context.Context, size int64) error {
	if err := transport.CheckTruncate(u.done, u.written, size, u.off); err != nil {
		return err
	}
	if err := u.bg.wait(); err != nil {
		return err
	}
	if err := u.f.Truncate(size); err != nil {
		return transport.Permanent(err)
	}
	if _, err := u.f.Seek(size, io.SeekStart); err != nil {
		return transport.Permanent(err)
	}
	u.off = size
	return nil
}

// Checkpoint saves state in the background (bgCheckpoint): the upload goes on while the
// disk syncs.
func (u *upload) Checkpoint(ctx context.Context, state []byte) error {
	if err := ready(ctx, u.done); err != nil {
		return err
	}
	return u.bg.request(func(st []byte) error {
		return checkpoint(context.Background(), false, u.f, u.d, u.stateName, u.display, st)
	}, state)
}

// checkpoint makes the bytes written to f so far durable, then saves the resume state
// that vouches for them as stateName in d (plain and split uploads alike).
func checkpoint(ctx context.Context, done bool, f, d *os.File, stateName, display string, state []byte) error {
	if err := ready(ctx, done); err != nil {
		return err
	}
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		return transport.Permanent(fmt.Errorf("sync %s: %w", f.Name(), err))
	}
	if err := writeFileIn(d, stateName, state, false, display+" resume state"); err != nil {
		return transport.Permanent(fmt.Errorf("save resume state: %w", err))
	}
	return nil
}

func (u *upload) Commit(ctx context.Context) error {
	if err := ready(ctx, u.done); err != nil {
		return err
	}
	if err := u.bg.wait(); err != nil {
		return err
	}
	if err := u.f.Sync(); err != nil {
		return transport.Permanent(fmt.Errorf("sync %s: %w", u.f.Name(), err))
	}
	u.done = true
	defer u.d.Close()
	if err := u.f.Close(); err != nil {
		return transport.Permanent(fmt.Errorf("close %s: %w", u.f.Name(), err))
	}
	if err := renameIn(u.d, u.tmp, u.d, u.final); err != nil {
		return transport.Permanent(fmt.Errorf("publish %s: %w", u.display, err))
	}
	_ = unix.Unlinkat(int(u.d.Fd()), u.stateName, 0)
	return syncDir(u.d)
}

// Abort keeps the partial file and every checkpoint asked for, for the next run.
func (u *upload) Abort(context.Context) error {
	_ = u.bg.wait()
	return abortFiles(&u.done, u.f, u.d)
}

// beginWrite checks that an upload can take a write and notes that it took one (its
// partial file can no longer be read back for comparison).
func beginWrite(ctx context.Context, done bool, written *bool) error {
	if err := ready(ctx, done); err != nil {
		return err
	}
	*written = true
	return nil
}

// ready says whether an upload can go on: not finished, ctx not ended.
func ready(ctx context.Context, done bool) error {
	if done {
		return transport.ErrClosed
	}
	return ctx.Err()
}

// abortFiles ends an upload (once: then transport.ErrClosed) keeping what it wrote:
// it closes the file being written and its directory.
func abortFiles(done *bool, f, d *os.File) error {
	if err := finishOnce(done); err != nil {
		return err
	}
	err := f.Close()
	d.Close()
	return err
}

// finishOnce marks an upload finished, or says it already was.
func finishOnce(done *bool) error {
	if *done {
		return transport.ErrClosed
	}
	*done = true
	return nil
}

func (u *upload) Discard(context.Context) error {
	if err := finishOnce(&u.done); err != nil {
		return err
	}
	_ = u.bg.wait() // no state file written after it is removed
	u.f.Close()
	defer u.d.Close()
	err := unix.Unlinkat(int(u.d.Fd()), u.tmp, 0)
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	if e := unix.Unlinkat(int(u.d.Fd()), u.stateName, 0); e != nil && !errors.Is(e, fs.ErrNotExist) {
		err = errors.Join(err, e)
	}
	return err
}

// Open implements transport.Backend.
func (b *Backend) Open(ctx context.Context, name string, offset int64) (io.ReadCloser, error) {
	if err := transport.CheckName(name); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if b.isVolumeName(name) {
		vs, err := b.volumeSet(name)
		if err != nil {
			return nil, err
		}
		return vs.open(ctx, offset)
	}
	f, err := b.openFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		if vs, verr := b.volumeSet(name); verr == nil {
			return vs.open(ctx, offset)
		} else if !errors.Is(verr, fs.ErrNotExist) {
			return nil, verr
		}
	}
	if err != nil {
		return nil, err
	}
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, err
		}
	}
	return &fileReader{ReadCloser: transport.ContextReader(ctx, f), ctx: ctx, f: f}, nil
}

// fileReader is what Open returns for a plain file: a stream that stops with ctx, which
// can also be read by offset (io.ReaderAt) through the same open file, never by its name
// again, so that a verifier can read it with several independent readers.
type fileReader struct {
	io.ReadCloser
	ctx context.Context
	f   *os.File
}

// ReadAt reads the file at off, whatever the stream has read; safe for concurrent use.
func (r *fileReader) ReadAt(p []byte, off int64) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.f.ReadAt(p, off)
}

// WriteTo keeps the stream's fast path (embedding alone would hide it).
func (r *fileReader) WriteTo(w io.Writer) (int64, error) {
	return r.ReadCloser.(io.WriterTo).WriteTo(w)
}

// openFile opens the regular file name for reading.
func (b *Backend) openFile(name string) (*os.File, error) {
	d, base, err := b.parent(name)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return openIn(d, base, os.O_RDONLY, b.path(name))
}

// lstat describes name without following a link in its last element.
func (b *Backend) lstat(name string) (fs.FileInfo, error) {
	return b.root.Lstat(name)
}

// Stat implements transport.Backend. A split volume set is described by
// its base name, with the size of all volumes together. A link or a
// special file is an error: Open would refuse it.
func (b *Backend) Stat(ctx context.Context, name string) (transport.FileInfo, error) {
	if err := transport.CheckName(name); err != nil {
		return transport.FileInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		return transport.FileInfo{}, err
	}
	if b.isVolumeName(name) {
		vs, err := b.volumeSet(name)
		if err != nil {
			return transport.FileInfo{}, err
		}
		return vs.info(), nil
	}
	fi, err := b.lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		if vs, verr := b.volumeSet(name); verr == nil {
			return vs.info(), nil
		} else if !errors.Is(verr, fs.ErrNotExist) {
			return transport.FileInfo{}, verr
		}
	}
	if err != nil {
		return transport.FileInfo{}, err
	}
	if !fi.Mode().IsRegular() && !fi.IsDir() {
		return transport.FileInfo{}, transport.Permanent(&fs.PathError{Op: "stat", Path: b.path(name), Err: modeError(fi.Mode())})
	}
	return info(fi), nil
}

func modeError(m fs.FileMode) error {
	switch {
	case m&fs.ModeSymlink != 0:
		return ErrSymlink
	case m&fs.ModeNamedPipe != 0:
		return fmt.Errorf("is a named pipe (FIFO): %w", ErrNotRegular)
	case m&fs.ModeSocket != 0:
		return fmt.Errorf("is a socket: %w", ErrNotRegular)
	case m.IsDir():
		return fmt.Errorf("is a directory: %w", ErrNotRegular)
	default:
		return fmt.Errorf("is a device: %w", ErrNotRegular)
	}
}

func info(fi fs.FileInfo) transport.FileInfo {
	return transport.FileInfo{Name: fi.Name(), Size: fi.Size(), ModTime: fi.ModTime(), IsDir: fi.IsDir()}
}

// List implements transport.Backend. Entries that cannot be a bundle safely are
// skipped with a notice: names that fail transport.CheckEntryName (control
// characters, over-long), links and special files (a FIFO would block a reader).
// A volume set with a damaged index is listed by its base name, so that opening it
// reports the damage.
func (b *Backend) List(ctx context.Context, dir string, fn func(transport.FileInfo) error) error {
	if err := transport.CheckDir(dir); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	d, err := b.openDir(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("list %s: %w", b.path(dir), err)
	}
	slices.Sort(names)
	// A volume set is listed once, by its base name.
	hidden := map[string]bool{}
	var sets []transport.FileInfo
	for _, n := range names {
		base, ok := strings.CutSuffix(n, IndexSuffix)
		if !ok || transport.IsTempName(n) || transport.CheckEntryName(n) != nil {
			continue
		}
		vs, err := b.volumeSet(path.Join(dir, base))
		switch {
		case err == nil:
			hidden[n] = true
			for _, v := range vs.idx.Volumes {
				hidden[v.Name] = true
			}
			sets = append(sets, vs.info())
		case !errors.Is(err, fs.ErrNotExist):
			hidden[n] = true
			b.notice("%s: %v", b.path(path.Join(dir, base)), err)
			sets = append(sets, transport.FileInfo{Name: base})
		}
	}
	for _, fi := range sets {
		if err := fn(fi); err != nil {
			return err
		}
	}
	for _, n := range names {
		if transport.IsTempName(n) || hidden[n] {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := transport.CheckEntryName(n); err != nil {
			b.notice("skipping an entry of %s: %v", b.path(dir), err)
			continue
		}
		fi, err := b.lstat(path.Join(dir, n))
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed while listing
		}
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() && !fi.IsDir() {
			b.notice("skipping %s: %v", b.path(path.Join(dir, n)), modeError(fi.Mode()))
			continue
		}
		if err := fn(info(fi)); err != nil {
			return err
		}
	}
	return nil
}

// Remove implements transport.Backend. A link is removed, never its target.
func (b *Backend) Remove(ctx context.Context, name string) error {
	if err := transport.CheckName(name); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := b.lstat(name); errors.Is(err, fs.ErrNotExist) {
		vs, verr := b.volumeSet(name)
		if verr == nil {
			return vs.remove()
		}
		if !errors.Is(verr, fs.ErrNotExist) {
			return verr
		}
	}
	return b.root.Remove(name)
}

// Rename implements transport.Backend. It uses renameat2(RENAME_NOREPLACE)
// so an existing target is never replaced, even by a concurrent writer. A
// link is moved, never its target.
func (b *Backend) Rename(ctx context.Context, oldname, newname string) error {
	if err := transport.CheckName(oldname); err != nil {
		return err
	}
	if err := transport.CheckName(newname); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := b.lstat(oldname); errors.Is(err, fs.ErrNotExist) {
		vs, verr := b.volumeSet(oldname)
		if verr == nil {
			return vs.rename(newname)
		}
		if !errors.Is(verr, fs.ErrNotExist) {
			return verr
		}
		return err
	} else if err != nil {
		return err
	}
	if _, err := b.volumeSet(newname); err == nil {
		return &fs.PathError{Op: "rename", Path: newname, Err: fs.ErrExist}
	}
	return b.renameNoReplace(oldname, newname)
}

// renameNoReplace moves oldname to newname inside the root, creating newname's
// directory when missing.
func (b *Backend) renameNoReplace(oldname, newname string) error {
	if dir, _ := dirOf(newname); dir != "." {
		if err := b.root.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	from, oldBase, err := b.parent(oldname)
	if err != nil {
		return err
	}
	defer from.Close()
	to, newBase, err := b.parent(newname)
	if err != nil {
		return err
	}
	defer to.Close()
	return renameNoReplace(from, oldBase, to, newBase)
}

// FreeSpace implements transport.SpaceReporter.
func (b *Backend) FreeSpace(ctx context.Context, dir string) (int64, error) {
	return fsstat.Free(b.path(dir))
}

// IsNotExist implements transport.Backend.
func (b *Backend) IsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// IsPermanent implements transport.Backend: a local filesystem error does
// not go away by waiting, except an interrupted or busy call.
func (b *Backend) IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	return !errors.Is(err, syscall.EINTR) && !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, syscall.EBUSY)
}

// Close implements transport.Backend.
func (b *Backend) Close() error { return b.root.Close() }
