// Package atomicfile writes files so that readers see the old content or the complete new
// content, never a partial file. It is the one implementation of imgx's "appears only
// when complete" promise: index.json and store records, exported tars, signed bundles,
// keys, the sync state, and the small files transport/local writes on a carrier (resume
// states, volume indexes), whose directory is an os.Root-confined descriptor.
//
// The policy, in one place:
//
//  1. Write a temporary file in the target's directory, created with
//     O_CREATE|O_EXCL|O_NOFOLLOW relative to the directory's descriptor, so a link or
//     file planted at the temporary name is never followed or reused, and mode 0600
//     until the final mode is applied.
//  2. fsync the file, close it, rename it over the final name (renameat on the same
//     directory descriptor; renameat2(RENAME_NOREPLACE) where an existing file must not
//     be replaced). A link at the final name is replaced, never followed.
//  3. fsync the directory (SyncDir), so the rename survives a crash. A failed directory
//     sync is an error, except EINVAL and ENOTSUP: the filesystem cannot sync a
//     directory at all (some FUSE and network filesystems), so there is nothing more to
//     wait for. Linux's vfat and exfat drivers (USB sticks) do sync directories and
//     report real I/O errors, which fail the write.
//
// Any failure before the rename removes the temporary file.
package atomicfile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// Options adjust CreateAt.
type Options struct {
	// Temp is a fixed temporary name in the same directory, for places where random
	// names would pile up after crashes (a carrier). An entry already there (a crash
	// leftover or something planted) is unlinked, which never follows it, and the
	// name is created anew. Empty means a random name ".BASE.tmp-HEX".
	Temp string
	// NoReplace makes Commit fail with an error wrapping fs.ErrExist when the final
	// name exists, even if another writer creates it meanwhile.
	NoReplace bool
	// Display names the file in errors; empty means the temporary file's name.
	Display string
}

// File is a temporary file that becomes its final name on Commit.
type File struct {
	*os.File
	dir     *os.File // the directory holding both names
	ownDir  bool     // dir was opened by Create and is closed when done
	tmp     string   // temporary name in dir
	base    string   // final name in dir
	display string
	opt     Options
	done    bool
}

// Create opens a temporary file in path's directory (so the rename stays on one
// filesystem). Call Commit to publish it, or Abort (safe to defer) to remove it.
func Create(path string, perm os.FileMode) (*File, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	d, err := os.OpenFile(dir, os.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	f, err := CreateAt(d, base, perm, Options{})
	if err != nil {
		d.Close()
		return nil, err
	}
	f.ownDir = true
	return f, nil
}

// CreateAt opens a temporary file for base in the open directory dir, which the caller
// keeps open until Commit or Abort. Every name is resolved relative to dir, so a
// directory confined with os.Root stays confined.
func CreateAt(dir *os.File, base string, perm os.FileMode, opt Options) (*File, error) {
	display := opt.Display
	for range 100 {
		tmp := opt.Temp
		if tmp == "" {
			tmp = "." + base + ".tmp-" + tempSuffix()
		}
		if opt.Display == "" {
			display = filepath.Join(dir.Name(), tmp)
		}
		fd, err := openExcl(dir, tmp)
		if errors.Is(err, unix.EEXIST) && opt.Temp != "" {
			_ = unix.Unlinkat(int(dir.Fd()), tmp, 0)
			fd, err = openExcl(dir, tmp)
		}
		if errors.Is(err, unix.EEXIST) && opt.Temp == "" {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "create", Path: display, Err: err}
		}
		f := os.NewFile(uintptr(fd), display)
		if err := f.Chmod(perm); err != nil {
			f.Close()
			_ = unix.Unlinkat(int(dir.Fd()), tmp, 0)
			return nil, err
		}
		return &File{File: f, dir: dir, tmp: tmp, base: base, display: display, opt: opt}, nil
	}
	return nil, fmt.Errorf("atomicfile: no free temporary name beside %s", filepath.Join(dir.Name(), base))
}

func openExcl(dir *os.File, name string) (int, error) {
	return retryEINTR(func() (int, error) {
		return unix.Openat(int(dir.Fd()), name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	})
}

// tempSuffix returns a random suffix for a temporary name (a variable for tests).
var tempSuffix = func() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Commit syncs the data, renames the file to its final name and syncs the directory.
func (f *File) Commit() error {
	if f.done {
		return errors.New("atomicfile: already committed or aborted")
	}
	f.done = true
	if f.ownDir {
		defer f.dir.Close()
	}
	err := f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		if f.opt.NoReplace {
			err = RenameNoReplace(f.dir, f.tmp, f.dir, f.base)
		} else {
			err = Rename(f.dir, f.tmp, f.dir, f.base)
		}
	}
	if err != nil {
		_ = unix.Unlinkat(int(f.dir.Fd()), f.tmp, 0)
		return fmt.Errorf("write %s: %w", f.display, err)
	}
	return SyncDirFile(f.dir)
}

// Abort removes the temporary file unless it was committed. It is safe to defer.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.Close()
	_ = unix.Unlinkat(int(f.dir.Fd()), f.tmp, 0)
	if f.ownDir {
		f.dir.Close()
	}
}

// WriteFile writes data to path atomically.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	f, err := Create(path, perm)
	if err != nil {
		return err
	}
	return write(f, data)
}

// WriteFileAt writes data to base in the open directory dir atomically.
func WriteFileAt(dir *os.File, base string, data []byte, perm os.FileMode, opt Options) error {
	f, err := CreateAt(dir, base, perm, opt)
	if err != nil {
		return err
	}
	return write(f, data)
}

func write(f *File, data []byte) error {
	defer f.Abort()
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.Commit()
}

// Publish makes f, a temporary file the caller created and wrote (possibly in another
// directory of the same filesystem), durable under the name final: fsync, close,
// rename. On failure the temporary file is removed. It does not sync final's
// directory: a caller publishing many files syncs it once afterwards (SyncDir), and
// until then a crash can lose the file but never leave it partial.
func Publish(f *os.File, final string) error {
	tmp := f.Name()
	err := f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// Rename renames oldBase in from to newBase in to, replacing newBase (a link there is
// replaced, not followed). Both names are resolved relative to the directories.
func Rename(from *os.File, oldBase string, to *os.File, newBase string) error {
	_, err := retryEINTR(func() (int, error) {
		return 0, unix.Renameat(int(from.Fd()), oldBase, int(to.Fd()), newBase)
	})
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldBase, New: filepath.Join(to.Name(), newBase), Err: err}
	}
	return nil
}

// RenameNoReplace renames like Rename but never replaces an existing newBase (an
// error wrapping fs.ErrExist), then syncs to. It uses renameat2(RENAME_NOREPLACE), or
// where the filesystem lacks it (EINVAL, ENOSYS) a check first.
func RenameNoReplace(from *os.File, oldBase string, to *os.File, newBase string) error {
	display := filepath.Join(to.Name(), newBase)
	err := renameNoReplace(from, oldBase, to, newBase)
	switch {
	case err == nil:
	case errors.Is(err, unix.EEXIST):
		return &fs.PathError{Op: "rename", Path: display, Err: fs.ErrExist}
	case errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS):
		var st unix.Stat_t
		if unix.Fstatat(int(to.Fd()), newBase, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
			return &fs.PathError{Op: "rename", Path: display, Err: fs.ErrExist}
		}
		if err := Rename(from, oldBase, to, newBase); err != nil {
			return err
		}
	default:
		return &fs.PathError{Op: "rename", Path: display, Err: err}
	}
	return SyncDirFile(to)
}

// SyncDir fsyncs the directory dir so that a rename in it survives a crash, with the
// package's policy: EINVAL and ENOTSUP (a filesystem that cannot sync directories) are
// not errors, anything else is.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	defer d.Close()
	return SyncDirFile(d)
}

// SyncDirFile is SyncDir for an open directory.
func SyncDirFile(d *os.File) error {
	if err := d.Sync(); err != nil && !cannotSyncDir(err) {
		return fmt.Errorf("sync directory %s: %w", d.Name(), err)
	}
	return nil
}

// cannotSyncDir reports a directory fsync error meaning "not supported here" rather
// than "failed".
func cannotSyncDir(err error) bool {
	return errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP)
}

func retryEINTR(fn func() (int, error)) (int, error) {
	for {
		n, err := fn()
		if err != unix.EINTR {
			return n, err
		}
	}
}
