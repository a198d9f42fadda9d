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

// Backend is a directory on a local filesystem.
type Backend struct {
	root string
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
	return &Backend{root: root, opts: opts}, nil
}

// Location returns the root directory.
func (b *Backend) Location() string { return b.root }

func (b *Backend) path(name string) string {
	return filepath.Join(b.root, filepath.FromSlash(name))
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
	tmp := b.path(transport.TempName(name))
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, transport.Permanent(fmt.Errorf("create: %w", err))
	}
	off, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return nil, transport.Permanent(fmt.Errorf("create: %w", err))
	}
	u := &upload{ctx: ctx, f: f, tmp: tmp, final: b.path(name), statePath: b.path(transport.StateName(name)), off: off}
	if off > 0 {
		if st, err := os.ReadFile(u.statePath); err == nil {
			u.state = st
		}
	}
	return u, nil
}

type upload struct {
	ctx        context.Context
	f          *os.File
	tmp, final string
	statePath  string
	off        int64
	state      []byte
	written    bool
	done       bool
}

func (u *upload) Write(p []byte) (int, error) {
	if u.done {
		return 0, transport.ErrClosed
	}
	if err := u.ctx.Err(); err != nil {
		return 0, err
	}
	u.written = true
	n, err := u.f.Write(p)
	u.off += int64(n)
	if err != nil {
		err = transport.Permanent(err)
	}
	return n, err
}

func (u *upload) Offset() int64 { return u.off }
func (u *upload) State() []byte { return u.state }

func (u *upload) Truncate(ctx context.Context, size int64) error {
	if err := transport.CheckTruncate(u.done, u.written, size, u.off); err != nil {
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

func (u *upload) Checkpoint(ctx context.Context, state []byte) error {
	if u.done {
		return transport.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := unix.Fdatasync(int(u.f.Fd())); err != nil {
		return transport.Permanent(fmt.Errorf("sync %s: %w", u.tmp, err))
	}
	if err := os.WriteFile(u.statePath, state, 0o644); err != nil {
		return transport.Permanent(fmt.Errorf("save resume state: %w", err))
	}
	return nil
}

func (u *upload) Commit(ctx context.Context) error {
	if u.done {
		return transport.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := u.f.Sync(); err != nil {
		return transport.Permanent(fmt.Errorf("sync %s: %w", u.tmp, err))
	}
	u.done = true
	if err := u.f.Close(); err != nil {
		return transport.Permanent(fmt.Errorf("close %s: %w", u.tmp, err))
	}
	if err := os.Rename(u.tmp, u.final); err != nil {
		return transport.Permanent(fmt.Errorf("publish: %w", err))
	}
	_ = os.Remove(u.statePath)
	return syncDir(filepath.Dir(u.final))
}

func (u *upload) Abort(context.Context) error {
	if u.done {
		return transport.ErrClosed
	}
	u.done = true
	return u.f.Close()
}

func (u *upload) Discard(context.Context) error {
	if !u.done {
		u.done = true
		u.f.Close()
	}
	err := os.Remove(u.tmp)
	if e := os.Remove(u.statePath); e != nil && !errors.Is(e, fs.ErrNotExist) {
		err = errors.Join(err, e)
	}
	return err
}

// syncDir makes a rename durable. Filesystems that cannot sync a directory
// (some FUSE and FAT drivers return EINVAL) are not an error.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return transport.Permanent(err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
		return transport.Permanent(fmt.Errorf("sync directory %s: %w", dir, err))
	}
	return nil
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
	f, err := os.Open(b.path(name))
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
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		f.Close()
		return nil, transport.Permanent(fmt.Errorf("open %s: is a directory", name))
	}
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, err
		}
	}
	return transport.ContextReader(ctx, f), nil
}

// Stat implements transport.Backend. A split volume set is described by
// its base name, with the size of all volumes together.
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
	fi, err := os.Stat(b.path(name))
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
	return info(fi), nil
}

func info(fi fs.FileInfo) transport.FileInfo {
	return transport.FileInfo{Name: fi.Name(), Size: fi.Size(), ModTime: fi.ModTime(), IsDir: fi.IsDir()}
}

// List implements transport.Backend.
func (b *Backend) List(ctx context.Context, dir string, fn func(transport.FileInfo) error) error {
	if err := transport.CheckDir(dir); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	entries, err := os.ReadDir(b.path(dir))
	if err != nil {
		return err
	}
	// A volume set is listed once, by its base name.
	hidden := map[string]bool{}
	var sets []transport.FileInfo
	for _, e := range entries {
		if base, ok := strings.CutSuffix(e.Name(), IndexSuffix); ok && !transport.IsTempName(e.Name()) {
			if vs, err := b.volumeSet(path.Join(dir, base)); err == nil {
				hidden[e.Name()] = true
				for _, v := range vs.idx.Volumes {
					hidden[v.Name] = true
				}
				sets = append(sets, vs.info())
			}
		}
	}
	for _, fi := range sets {
		if err := fn(fi); err != nil {
			return err
		}
	}
	for _, e := range entries {
		if transport.IsTempName(e.Name()) || hidden[e.Name()] {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed while listing
		}
		if err != nil {
			return err
		}
		if err := fn(info(fi)); err != nil {
			return err
		}
	}
	return nil
}

// Remove implements transport.Backend.
func (b *Backend) Remove(ctx context.Context, name string) error {
	if err := transport.CheckName(name); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	err := os.Remove(b.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		if vs, verr := b.volumeSet(name); verr == nil {
			return vs.remove()
		}
	}
	return err
}

// Rename implements transport.Backend. It uses renameat2(RENAME_NOREPLACE)
// so an existing target is never replaced, even by a concurrent writer.
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
	from, to := b.path(oldname), b.path(newname)
	if _, err := os.Lstat(from); errors.Is(err, fs.ErrNotExist) {
		if vs, verr := b.volumeSet(oldname); verr == nil {
			return vs.rename(newname)
		}
		return err
	} else if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	if _, err := b.volumeSet(newname); err == nil {
		return &fs.PathError{Op: "rename", Path: newname, Err: fs.ErrExist}
	}
	return renameNoReplace(from, to, newname)
}

func renameNoReplace(from, to, newname string) error {
	err := unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, unix.RENAME_NOREPLACE)
	switch {
	case err == nil:
	case errors.Is(err, unix.EEXIST):
		return &fs.PathError{Op: "rename", Path: newname, Err: fs.ErrExist}
	case errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS):
		// Filesystems without RENAME_NOREPLACE: check, then rename.
		if _, err := os.Lstat(to); err == nil {
			return &fs.PathError{Op: "rename", Path: newname, Err: fs.ErrExist}
		}
		if err := os.Rename(from, to); err != nil {
			return err
		}
	default:
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	return syncDir(filepath.Dir(to))
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
func (b *Backend) Close() error { return nil }
