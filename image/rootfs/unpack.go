package rootfs

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
	"time"

	"golang.org/x/sys/unix"
)

// UnpackOptions restricts what [UnpackWith] creates. The zero value keeps
// everything the image has that the process may create (as tar and umoci do).
type UnpackOptions struct {
	// NoDevices skips character and block devices and FIFOs (and hard links
	// to them), which root would otherwise create.
	NoDevices bool
	// NoSetuid clears the setuid and setgid bits of every file and directory
	// and leaves out file capabilities (the security.capability attribute),
	// which grant privileges the same way.
	NoSetuid bool
	// Merge allows a dir that already has entries: the image's files are written among
	// them. Without it a non-empty dir is refused (ErrNotEmpty) before anything is
	// written, so two images are never mixed by mistake.
	Merge bool
}

// Unpack extracts the flattened filesystem of layers into dir, creating dir
// if needed, keeping everything the process may create. See the package
// documentation for what it refuses and what it sets.
func Unpack(ctx context.Context, layers []Opener, dir string) error {
	return UnpackWith(ctx, layers, dir, UnpackOptions{})
}

// UnpackWith is [Unpack] with restrictions on what it creates.
func UnpackWith(ctx context.Context, layers []Opener, dir string, o UnpackOptions) error {
	if !o.Merge {
		if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
			return fmt.Errorf("unpack: %s: %w", dir, ErrNotEmpty)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	pr, pw := io.Pipe()
	ferr := make(chan error, 1)
	go func() {
		err := Flatten(ctx, layers, pw)
		pw.CloseWithError(err)
		ferr <- err
	}()
	err := extractWith(ctx, pr, dir, o)
	pr.CloseWithError(errExtractStopped) // unblocks Flatten if extract stopped early
	if fe := <-ferr; fe != nil && !errors.Is(fe, errExtractStopped) {
		return fe // the cause; extract only saw its echo through the pipe
	}
	return err
}

var errExtractStopped = errors.New("extraction stopped")

// extractor writes a tar stream below a root it never leaves: every
// operation goes through os.Root, and parents are checked with Lstat so no
// symlink is followed even inside the root.
type extractor struct {
	ctx     context.Context
	root    *os.Root
	dir     string // absolute, for the few calls os.Root lacks
	asRoot  bool
	opts    UnpackOptions
	good    map[string]bool // directories known to be real directories
	skipped map[string]bool // special files left out by NoDevices, so links to them are too
	dirs    []dirTimes      // directory metadata applied at the end
	buf     []byte
}

type dirTimes struct {
	name  string
	mode  os.FileMode
	mtime time.Time
}

// extract writes the tar stream r below dir.
func extract(ctx context.Context, r io.Reader, dir string) error {
	return extractWith(ctx, r, dir, UnpackOptions{})
}

func extractWith(ctx context.Context, r io.Reader, dir string, o UnpackOptions) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	root, err := os.OpenRoot(abs)
	if err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	defer root.Close()
	x := &extractor{ctx: ctx, root: root, dir: abs, asRoot: os.Geteuid() == 0, opts: o,
		good: map[string]bool{".": true}, skipped: map[string]bool{}, buf: make([]byte, 256<<10)}
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("unpack: read tar: %w", err)
		}
		if err := x.entry(hdr, tr); err != nil {
			var ee *EntryError
			if errors.As(err, &ee) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return err
			}
			return &EntryError{Layer: -1, Entry: hdr.Name, Err: fmt.Errorf("unpack: %w", err)}
		}
	}
	// Children first, so setting a directory's time is the last touch.
	for i := len(x.dirs) - 1; i >= 0; i-- {
		d := x.dirs[i]
		if err := root.Chmod(d.name, d.mode); err != nil {
			return fmt.Errorf("unpack: chmod %s: %w", d.name, err)
		}
		if err := root.Chtimes(d.name, d.mtime, d.mtime); err != nil {
			return fmt.Errorf("unpack: set times of %s: %w", d.name, err)
		}
	}
	return nil
}

func (x *extractor) entry(hdr *tar.Header, r io.Reader) error {
	typ, skip, err := entryType(hdr)
	if err != nil || skip {
		return err
	}
	name, err := CheckEntryName(hdr.Name)
	if err != nil || name == "." {
		return err // the root itself is the caller's directory: left alone
	}
	if x.opts.NoDevices {
		switch typ {
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			x.skipped[name] = true
			return nil
		case tar.TypeLink:
			if target, err := CheckEntryName(hdr.Linkname); err == nil && x.skipped[target] {
				x.skipped[name] = true
				return nil
			}
		}
		delete(x.skipped, name) // a later entry replaces the skipped one
	}
	if err := x.parents(name, true); err != nil {
		return err
	}
	if err := x.replace(name, typ); err != nil {
		return err
	}
	mode := hdr.FileInfo().Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
	if x.opts.NoSetuid {
		mode &^= fs.ModeSetuid | fs.ModeSetgid
	}

	switch typ {
	case tar.TypeDir:
		if err := x.root.Mkdir(name, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		x.good[name] = true
		if err := x.owner(name, hdr); err != nil {
			return err
		}
		x.xattrsAt(name, hdr)
		x.dirs = append(x.dirs, dirTimes{name, mode, hdr.ModTime})
		return nil

	case tar.TypeReg:
		f, err := x.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		if err := x.fill(f, hdr, r, mode); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		return x.root.Chtimes(name, hdr.ModTime, hdr.ModTime)

	case tar.TypeSymlink:
		if err := x.root.Symlink(hdr.Linkname, name); err != nil {
			return err
		}
		if err := x.owner(name, hdr); err != nil {
			return err
		}
		x.xattrsAt(name, hdr)
		ts := []unix.Timespec{unix.NsecToTimespec(hdr.ModTime.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
		// Parents were checked to be real directories and the final
		// component is not followed.
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(x.dir, name), ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("set times: %w", err)
		}
		return nil

	case tar.TypeLink:
		target, err := CheckEntryName(hdr.Linkname)
		if err != nil {
			return fmt.Errorf("hard link target %s: %w", hdr.Linkname, err)
		}
		if err := x.parents(target, false); err != nil {
			return fmt.Errorf("hard link target %s: %w", target, err)
		}
		fi, err := x.root.Lstat(target)
		if err != nil {
			return fmt.Errorf("hard link target %s: %w", target, err)
		}
		if fi.IsDir() {
			return fmt.Errorf("%w: hard link target %s is a directory", ErrBadLayer, target)
		}
		return x.root.Link(target, name)

	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		kind := uint32(unix.S_IFIFO)
		switch typ {
		case tar.TypeChar:
			kind = unix.S_IFCHR
		case tar.TypeBlock:
			kind = unix.S_IFBLK
		}
		if typ != tar.TypeFifo && !x.asRoot {
			return nil // unprivileged: device nodes are skipped by design
		}
		parent, err := x.root.Open(path.Dir(name))
		if err != nil {
			return err
		}
		dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
		err = unix.Mknodat(int(parent.Fd()), path.Base(name), kind|0o600, int(dev))
		parent.Close()
		if errors.Is(err, unix.EPERM) && typ != tar.TypeFifo {
			return nil // root without CAP_MKNOD (user namespace): same policy
		}
		if err != nil {
			return fmt.Errorf("mknod: %w", err)
		}
		if err := x.owner(name, hdr); err != nil {
			return err
		}
		if err := x.root.Chmod(name, mode); err != nil {
			return err
		}
		return x.root.Chtimes(name, hdr.ModTime, hdr.ModTime)
	}
	return fmt.Errorf("%w: unsupported entry type %q", ErrBadLayer, typ)
}

// fill writes a regular file's content and metadata through its descriptor.
func (x *extractor) fill(f *os.File, hdr *tar.Header, r io.Reader, mode os.FileMode) error {
	if err := copyContent(x.ctx, f, r, x.buf); err != nil {
		return err
	}
	if x.asRoot {
		if err := f.Chown(hdr.Uid, hdr.Gid); err != nil {
			return err
		}
	}
	// After chown, which clears setuid/setgid.
	if err := f.Chmod(mode); err != nil {
		return err
	}
	for k, v := range x.xattrs(hdr) {
		_ = unix.Fsetxattr(int(f.Fd()), k, []byte(v), 0) // best effort
	}
	return nil
}

// parents makes sure every parent of name is a real directory (creating
// missing ones when create is set) and refuses symlinks among them.
func (x *extractor) parents(name string, create bool) error {
	dir := path.Dir(name)
	if x.good[dir] {
		return nil
	}
	cur := ""
	for comp := range strings.SplitSeq(dir, "/") {
		if cur == "" {
			cur = comp
		} else {
			cur += "/" + comp
		}
		if x.good[cur] {
			continue
		}
		fi, err := x.root.Lstat(cur)
		switch {
		case errors.Is(err, fs.ErrNotExist) && create:
			if err := x.root.Mkdir(cur, 0o755); err != nil {
				return err
			}
		case err != nil:
			return err
		case fi.Mode()&fs.ModeSymlink != 0:
			return fmt.Errorf("parent %s is a symlink: %w", cur, ErrUnsafePath)
		case !fi.IsDir():
			return fmt.Errorf("%w: parent %s is not a directory", ErrBadLayer, cur)
		}
		x.good[cur] = true
	}
	return nil
}

// replace removes what is at name unless it is a directory and typ is too.
func (x *extractor) replace(name string, typ byte) error {
	fi, err := x.root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		if typ == tar.TypeDir {
			return nil
		}
		// Forget what we knew below it: it is about to be replaced.
		clear(x.good)
		x.good["."] = true
		kept := x.dirs[:0]
		for _, d := range x.dirs {
			if d.name != name && !strings.HasPrefix(d.name, name+"/") {
				kept = append(kept, d)
			}
		}
		x.dirs = kept
	}
	return x.root.RemoveAll(name)
}

func (x *extractor) owner(name string, hdr *tar.Header) error {
	if !x.asRoot {
		return nil
	}
	return x.root.Lchown(name, hdr.Uid, hdr.Gid)
}

// xattrsAt sets extended attributes on a directory or symlink, best effort.
func (x *extractor) xattrsAt(name string, hdr *tar.Header) {
	for k, v := range x.xattrs(hdr) {
		_ = unix.Lsetxattr(filepath.Join(x.dir, name), k, []byte(v), 0)
	}
}

// xattrs are the extended attributes to set: all of them, except file
// capabilities (which grant privileges as setuid does) under NoSetuid.
func (x *extractor) xattrs(hdr *tar.Header) map[string]string {
	m := xattrs(hdr)
	if x.opts.NoSetuid {
		delete(m, "security.capability")
	}
	return m
}

func xattrs(hdr *tar.Header) map[string]string {
	var out map[string]string
	for k, v := range hdr.PAXRecords {
		if name, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
			if out == nil {
				out = map[string]string{}
			}
			out[name] = v
		}
	}
	return out
}
