package local

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/imgx/imgx/internal/atomicfile"
	"github.com/imgx/imgx/transport"
)

// Carrier containment. Everything the backend does goes through an os.Root opened once
// in New, so no name (from the caller, a listing or a volume index) reaches a file
// outside the directory. os.Root follows symbolic links that stay inside the root; the
// last element of a name is never followed here: it is opened with openat(O_NOFOLLOW)
// relative to its directory's descriptor, so a link planted on the carrier is refused
// rather than read or written through, and renames use renameat2 on the same
// descriptors.

var (
	// ErrSymlink: an entry on the carrier is a symbolic link. imgx only follows links it
	// made itself, and it makes none.
	ErrSymlink = errors.New("is a symbolic link: refused (links on a carrier are not followed)")
	// ErrNotRegular: an entry is a FIFO, device, socket or directory where a file
	// was expected. Opening a FIFO would block, a device could do anything.
	ErrNotRegular = errors.New("not a regular file: refused")
	// ErrLinked: a temporary file that would be written in place has other hard
	// links, so writing it would change a file elsewhere.
	ErrLinked = errors.New("has other hard links: refused (writing it would change another file)")
)

// maxSmallFile bounds what is read whole from the carrier: a volume index or resume
// state. A resume state of a 1 TiB upload is about 6 MiB.
const maxSmallFile = 32 << 20

// dirOf splits a slash-separated name into its directory (".", for the root) and last
// element.
func dirOf(name string) (dir, base string) {
	dir, base = path.Split(name)
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		dir = "."
	}
	return dir, base
}

// openDir opens directory dir inside the root. O_DIRECTORY makes a FIFO or device
// planted where a directory should be fail at once instead of blocking.
func (b *Backend) openDir(dir string) (*os.File, error) {
	if dir == "" {
		dir = "."
	}
	d, err := b.root.OpenFile(dir, os.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	return d, nil
}

// parent opens the directory holding name and returns it with name's last element.
func (b *Backend) parent(name string) (*os.File, string, error) {
	dir, base := dirOf(name)
	d, err := b.openDir(dir)
	if err != nil {
		return nil, "", err
	}
	return d, base, nil
}

// lstatIn describes base in directory d without following a link.
func lstatIn(d *os.File, base string) (unix.Stat_t, error) {
	var st unix.Stat_t
	err := ignoringEINTR(func() error { return unix.Fstatat(int(d.Fd()), base, &st, unix.AT_SYMLINK_NOFOLLOW) })
	return st, err
}

// kind describes a non-regular file type for messages.
func kind(mode uint32) error {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return nil
	case unix.S_IFLNK:
		return ErrSymlink
	case unix.S_IFDIR:
		return fmt.Errorf("is a directory: %w", ErrNotRegular)
	case unix.S_IFIFO:
		return fmt.Errorf("is a named pipe (FIFO): %w", ErrNotRegular)
	case unix.S_IFSOCK:
		return fmt.Errorf("is a socket: %w", ErrNotRegular)
	default:
		return fmt.Errorf("is a device: %w", ErrNotRegular)
	}
}

// openIn opens the regular file base in d with flag (O_RDONLY, O_RDWR, ...). It never
// follows a link, never blocks on a FIFO and never opens a device: the entry is
// checked before and (against a swap in between) after opening. display names the
// file in errors.
func openIn(d *os.File, base string, flag int, display string) (*os.File, error) {
	if st, err := lstatIn(d, base); err != nil {
		return nil, &fs.PathError{Op: "open", Path: display, Err: err}
	} else if err := kind(st.Mode); err != nil {
		return nil, transport.Permanent(&fs.PathError{Op: "open", Path: display, Err: err})
	}
	return openChecked(d, base, flag&^(os.O_CREATE|os.O_EXCL|os.O_TRUNC), 0, display)
}

// createIn creates base in d, which must not exist (O_EXCL: a planted link or file at
// the name fails with fs.ErrExist instead of being followed or reused).
func createIn(d *os.File, base string, display string) (*os.File, error) {
	return openChecked(d, base, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644, display)
}

func openChecked(d *os.File, base string, flag int, perm uint32, display string) (*os.File, error) {
	var fd int
	err := ignoringEINTR(func() (err error) {
		fd, err = unix.Openat(int(d.Fd()), base, flag|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOCTTY, perm)
		return err
	})
	if errors.Is(err, unix.ELOOP) {
		return nil, transport.Permanent(&fs.PathError{Op: "open", Path: display, Err: ErrSymlink})
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: display, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &fs.PathError{Op: "stat", Path: display, Err: err}
	}
	if err := kind(st.Mode); err != nil {
		unix.Close(fd)
		return nil, transport.Permanent(&fs.PathError{Op: "open", Path: display, Err: err})
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, &fs.PathError{Op: "open", Path: display, Err: err}
	}
	return os.NewFile(uintptr(fd), display), nil
}

// openTemp opens an upload's temporary file base in d for writing: created when
// missing, reused when it is a regular file with no other hard link (a resume), and
// refused when it is a link, a FIFO, a device or has other hard links, so that a file
// planted there by whoever else writes the carrier is never written through.
func openTemp(d *os.File, base, display string) (*os.File, error) {
	f, err := createIn(d, base, display)
	if err == nil || !errors.Is(err, fs.ErrExist) {
		return f, refusal(err, display)
	}
	st, err := lstatIn(d, base)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: display, Err: err}
	}
	if err := kind(st.Mode); err != nil {
		return nil, refusal(transport.Permanent(&fs.PathError{Op: "open", Path: display, Err: err}), display)
	}
	f, err = openChecked(d, base, os.O_RDWR, 0, display)
	if err != nil {
		return nil, refusal(err, display)
	}
	if err := checkUnlinked(f, display); err != nil {
		f.Close()
		return nil, refusal(err, display)
	}
	return f, nil
}

// checkUnlinked refuses a file with more than one hard link.
func checkUnlinked(f *os.File, display string) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return &fs.PathError{Op: "stat", Path: display, Err: err}
	}
	if st.Nlink > 1 {
		return transport.Permanent(&fs.PathError{Op: "open", Path: display, Err: ErrLinked})
	}
	return nil
}

// refusal adds what to do about a stale temporary entry imgx will not touch.
func refusal(err error, display string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrSymlink) || errors.Is(err, ErrNotRegular) || errors.Is(err, ErrLinked) {
		return transport.Permanent(fmt.Errorf("stale temporary file: %w; remove %s and run again", err, display))
	}
	return err
}

// writeFileIn writes data to base in d atomically (internal/atomicfile, with a fixed
// temporary name so crashes leave no pile of them on the carrier: a leftover or planted
// entry there is unlinked, never followed). With noReplace an existing base is an error
// wrapping fs.ErrExist.
func writeFileIn(d *os.File, base string, data []byte, noReplace bool, display string) error {
	err := atomicfile.WriteFileAt(d, base, data, 0o644, atomicfile.Options{
		Temp: "." + base + transport.TempSuffix, NoReplace: noReplace, Display: display})
	if err != nil {
		return transport.Permanent(fmt.Errorf("write %s: %w", display, err))
	}
	return nil
}

// readSmall reads a whole regular file of at most maxSmallFile bytes.
func readSmall(d *os.File, base, display string) ([]byte, error) {
	f, err := openIn(d, base, os.O_RDONLY, display)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSmallFile+1))
	if err != nil {
		return nil, transport.Permanent(fmt.Errorf("read %s: %w", display, err))
	}
	if len(data) > maxSmallFile {
		return nil, transport.Permanent(fmt.Errorf("%s: larger than %d bytes", display, maxSmallFile))
	}
	return data, nil
}

// renameIn renames within the root, replacing newBase (a link there is replaced, not
// followed).
func renameIn(from *os.File, oldBase string, to *os.File, newBase string) error {
	return atomicfile.Rename(from, oldBase, to, newBase)
}

// renameNoReplace renames without ever replacing an existing newBase
// (atomicfile.RenameNoReplace) and syncs the target directory.
func renameNoReplace(from *os.File, oldBase string, to *os.File, newBase string) error {
	if err := atomicfile.RenameNoReplace(from, oldBase, to, newBase); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return err
		}
		return transport.Permanent(err)
	}
	return nil
}

// syncDir makes a rename in d durable, with atomicfile's one directory-sync policy.
func syncDir(d *os.File) error {
	if err := atomicfile.SyncDirFile(d); err != nil {
		return transport.Permanent(err)
	}
	return nil
}

func ignoringEINTR(fn func() error) error {
	for {
		err := fn()
		if err != unix.EINTR {
			return err
		}
	}
}
