package rootfs

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// walkOpts selects what treeOf reports.
type walkOpts struct {
	owners   bool // uid:gid (only meaningful when extracted as root)
	times    bool // mtime of non-directories
	dirTimes bool // mtime of directories too
}

// treeOf describes every path below dir, sorted, one line each:
// "path type mode [uid:gid] detail". Hard-linked files name the first path
// of their inode ("hl=path"), so two trees compare link structure too.
func treeOf(t testing.TB, dir string, o walkOpts) []string {
	t.Helper()
	type inode struct{ dev, ino uint64 }
	first := map[inode]string{}
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		mode := uint32(fi.Mode().Perm())
		if fi.Mode()&fs.ModeSetuid != 0 {
			mode |= 0o4000
		}
		if fi.Mode()&fs.ModeSetgid != 0 {
			mode |= 0o2000
		}
		if fi.Mode()&fs.ModeSticky != 0 {
			mode |= 0o1000
		}
		var typ, detail string
		switch m := fi.Mode(); {
		case m.IsDir():
			typ = "d"
		case m.IsRegular():
			typ = "f"
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if len(b) <= 32 {
				detail = fmt.Sprintf("%q", b)
			} else {
				detail = fmt.Sprintf("sha256:%x", sha256.Sum256(b))[:19]
			}
			if st.Nlink > 1 {
				k := inode{uint64(st.Dev), st.Ino}
				if f, ok := first[k]; ok {
					detail += " hl=" + f
				} else {
					first[k] = rel
				}
			}
		case m&fs.ModeSymlink != 0:
			typ = "l"
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			detail = "-> " + target
		case m&fs.ModeCharDevice != 0:
			typ = "c"
			detail = fmt.Sprintf("%d,%d", unix.Major(uint64(st.Rdev)), unix.Minor(uint64(st.Rdev)))
		case m&fs.ModeDevice != 0:
			typ = "b"
			detail = fmt.Sprintf("%d,%d", unix.Major(uint64(st.Rdev)), unix.Minor(uint64(st.Rdev)))
		case m&fs.ModeNamedPipe != 0:
			typ = "p"
		default:
			typ = "?"
		}
		line := fmt.Sprintf("%s %s %04o", rel, typ, mode)
		if o.owners {
			line += fmt.Sprintf(" %d:%d", st.Uid, st.Gid)
		}
		if detail != "" {
			line += " " + detail
		}
		if xs := userXattrs(p); xs != "" {
			line += " [" + xs + "]"
		}
		if o.times && (typ != "d" || o.dirTimes) {
			line += " t=" + fi.ModTime().UTC().Format(time.RFC3339Nano)
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dir, err)
	}
	slices.Sort(out)
	return out
}

func diffLines(t testing.TB, what string, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	var b strings.Builder
	for _, l := range want {
		if !slices.Contains(got, l) {
			fmt.Fprintf(&b, "\n  missing: %s", l)
		}
	}
	for _, l := range got {
		if !slices.Contains(want, l) {
			fmt.Fprintf(&b, "\n  extra:   %s", l)
		}
	}
	t.Errorf("%s differ:%s", what, b.String())
}

// testImage is a crafted image exercising whiteouts, opaque dirs, links,
// special files and metadata; shared by the unpack and umoci tests.
func testImage(t testing.TB) [][]byte {
	return [][]byte{
		mkTar(t,
			dir("etc").withXattr("user.dir", "d"), file("etc/passwd", "root:x:0:0"), file("etc/shadow", "secret").withMode(0o600),
			dir("usr"), dir("usr/bin"), file("usr/bin/su", "su").withMode(0o4755).withOwner(0, 0),
			file("usr/bin/tool", bigContent).withMode(0o755), hard("usr/bin/tool2", "usr/bin/tool"),
			dir("opt"), dir("opt/app"), file("opt/app/old", "old"), dir("opt/app/lib"), file("opt/app/lib/a", "a"),
			dir("home"), dir("home/user").withOwner(1000, 1000), file("home/user/.profile", "p").withOwner(1000, 1000),
			dir("tmp").withMode(0o1777),
			sym("bin", "usr/bin"), sym("etc/alt", "/etc/passwd"),
			file("gone", "gone"), dir("gonedir"), file("gonedir/x", "x"),
			file("d2f/a", "a"), file("f2d", "f"),
			file("orig", "orig-content"), hard("keeper", "orig"),
			ent{name: "dev/null", typ: tar.TypeChar, mode: 0o666, major: 1, minor: 3},
			ent{name: "run/fifo", typ: tar.TypeFifo, mode: 0o644},
			dir("ro").withMode(0o555), file("ro/file", "r").withMode(0o444),
			file("xattr", "x").withXattr("user.foo", "bar"),
		),
		mkTar(t,
			wh(".wh.gone"), wh(".wh.gonedir"),
			dir("opt/app").withMode(0o750), wh("opt/app/.wh..wh..opq"), file("opt/app/new", "new"),
			file("d2f", "now a file"), dir("f2d"), file("f2d/in", "in"),
			sym("etc/alt", "passwd"), file("etc/passwd", "root:x:0:0:changed"),
			hard("etc/passwd2", "etc/passwd"),
			wh(".wh.orig"),
			file("usr/bin/tool3", "t3"), hard("usr/bin/tool4", "usr/bin/tool2"),
		),
		mkTar(t,
			file("home/user/.bashrc", "b").withOwner(1000, 1000).withTime(testTime.Add(1500*time.Millisecond)),
			wh("usr/bin/.wh.su"),
		),
	}
}

var (
	bigContent = strings.Repeat("0123456789abcdef", 4096)
	bigDigest  = fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(bigContent)))[:19]
)

var testImageTree = []string{
	`bin l 0777 0:0 -> usr/bin`,
	`d2f f 0644 0:0 "now a file"`,
	`dev d 0755 0:0`,
	`dev/null c 0666 0:0 1,3`,
	`etc d 0755 0:0 [user.dir=d]`,
	`etc/alt l 0777 0:0 -> passwd`,
	`etc/passwd f 0644 0:0 "root:x:0:0:changed"`,
	`etc/passwd2 f 0644 0:0 "root:x:0:0:changed" hl=etc/passwd`,
	`etc/shadow f 0600 0:0 "secret"`,
	`f2d d 0755 0:0`,
	`f2d/in f 0644 0:0 "in"`,
	`home d 0755 0:0`,
	`home/user d 0755 1000:1000`,
	`home/user/.bashrc f 0644 1000:1000 "b"`,
	`home/user/.profile f 0644 1000:1000 "p"`,
	`keeper f 0644 0:0 "orig-content"`,
	`opt d 0755 0:0`,
	`opt/app d 0750 0:0`,
	`opt/app/new f 0644 0:0 "new"`,
	`ro d 0555 0:0`,
	`ro/file f 0444 0:0 "r"`,
	`run d 0755 0:0`,
	`run/fifo p 0644 0:0`,
	`tmp d 1777 0:0`,
	`usr d 0755 0:0`,
	`usr/bin d 0755 0:0`,
	`usr/bin/tool f 0755 0:0 BIG`,
	`usr/bin/tool2 f 0755 0:0 BIG hl=usr/bin/tool`,
	`usr/bin/tool3 f 0644 0:0 "t3"`,
	`usr/bin/tool4 f 0755 0:0 BIG hl=usr/bin/tool`,
	`xattr f 0644 0:0 "x" [user.foo=bar]`,
}

func wantTree(t testing.TB) []string {
	var out []string
	for _, l := range testImageTree {
		l = strings.ReplaceAll(l, "BIG", bigDigest)
		if os.Geteuid() != 0 {
			if strings.HasPrefix(l, "dev/null ") {
				continue // devices are skipped when unprivileged
			}
			f := strings.Fields(l)
			l = strings.Join(slices.Delete(f, 3, 4), " ")
		}
		out = append(out, l)
	}
	return out
}

func TestUnpack(t *testing.T) {
	dir := t.TempDir()
	// Runs before TempDir's removal, which an unprivileged user cannot do
	// inside the read-only directory.
	t.Cleanup(func() { os.Chmod(filepath.Join(dir, "ro"), 0o755) })
	layers := testImage(t)
	if err := Unpack(context.Background(), openers(layers...), dir); err != nil {
		t.Fatalf("Unpack: %v", err)
	}
	got := treeOf(t, dir, walkOpts{owners: os.Geteuid() == 0})
	diffLines(t, "unpacked tree", got, wantTree(t))

	// Times: files, symlinks and directories (set after their contents).
	for _, c := range []struct {
		name string
		want time.Time
	}{
		{"home/user/.bashrc", testTime.Add(1500 * time.Millisecond)},
		{"etc/alt", testTime},
		{"ro", testTime},
		{"home/user", testTime},
		{"opt/app", testTime},
	} {
		fi, err := os.Lstat(filepath.Join(dir, c.name))
		if err != nil {
			t.Fatal(err)
		}
		if !fi.ModTime().Equal(c.want) {
			t.Errorf("mtime of %s = %v, want %v", c.name, fi.ModTime(), c.want)
		}
	}
}

// TestUnpackRefusesEscape feeds raw tar streams (not Flatten output, which
// would refuse most of them earlier) to the extractor.
func TestUnpackRefusesEscape(t *testing.T) {
	tests := []struct {
		name string
		ents func(outside string) []ent
		pre  func(t *testing.T, dir, outside string)
		err  error
	}{
		{
			name: "file through symlink",
			ents: func(o string) []ent { return []ent{sym("evil", o), file("evil/pwned", "x")} },
			err:  ErrUnsafePath,
		},
		{
			name: "dir through relative symlink",
			ents: func(o string) []ent {
				return []ent{dir("a"), sym("a/up", "../../../../../../../../.."+o), dir("a/up/sub")}
			},
			err: ErrUnsafePath,
		},
		{
			name: "hard link through symlink",
			ents: func(o string) []ent { return []ent{sym("s", o), hard("h", "s/secret")} },
			err:  ErrUnsafePath,
		},
		{
			name: "hard link dot dot",
			ents: func(o string) []ent { return []ent{hard("h", "../../../../../../"+o+"/secret")} },
			err:  ErrUnsafePath,
		},
		{
			name: "entry dot dot",
			ents: func(o string) []ent { return []ent{file("../../../../../../../"+o+"/pwned", "x")} },
			err:  ErrUnsafePath,
		},
		{
			name: "pre-existing symlink in dir",
			pre: func(t *testing.T, dir, o string) {
				if err := os.Symlink(o, filepath.Join(dir, "evil")); err != nil {
					t.Fatal(err)
				}
			},
			ents: func(o string) []ent { return []ent{file("evil/pwned", "x")} },
			err:  ErrUnsafePath,
		},
		{
			name: "symlink replaced by file is not followed",
			ents: func(o string) []ent { return []ent{sym("evil", o+"/secret"), file("evil", "x")} },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			outside, dir := t.TempDir(), t.TempDir()
			secret := filepath.Join(outside, "secret")
			if err := os.WriteFile(secret, []byte("keep"), 0o600); err != nil {
				t.Fatal(err)
			}
			if tt.pre != nil {
				tt.pre(t, dir, outside)
			}
			err := extract(context.Background(), bytes.NewReader(mkTar(t, tt.ents(outside)...)), dir)
			t.Log(err)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			assertUntouched(t, outside)
		})
	}
}

func assertUntouched(t *testing.T, outside string) {
	t.Helper()
	got := treeOf(t, outside, walkOpts{})
	if want := []string{`secret f 0600 "keep"`}; !slices.Equal(got, want) {
		t.Errorf("outside dir = %q, want %q", got, want)
	}
}

// TestUnpackLayersRefuseSymlinkParent: through the public API, a lower
// symlink does not let an upper layer write outside.
func TestUnpackLayersRefuseSymlinkParent(t *testing.T) {
	outside, dir := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret"), []byte("keep"), 0o600)
	layers := openers(mkTar(t, sym("evil", outside)), mkTar(t, file("evil/secret", "pwned"), file("evil/new", "x")))
	err := Unpack(context.Background(), layers, dir)
	if !errors.Is(err, ErrBadLayer) {
		t.Fatalf("err = %v, want ErrBadLayer", err)
	}
	t.Log(err)
	assertUntouched(t, outside)
}

func TestUnpackFlattenErrorIsReported(t *testing.T) {
	err := Unpack(context.Background(), openers(mkTar(t, file("a", "a")), []byte("garbage garbage")), t.TempDir())
	var ee *EntryError
	if !errors.As(err, &ee) || ee.Layer != 1 || !errors.Is(err, ErrBadLayer) {
		t.Fatalf("err = %v, want layer 1 ErrBadLayer", err)
	}
}

// userXattrs lists a path's user.* extended attributes as "k=v,...".
func userXattrs(p string) string {
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(p, buf)
	if err != nil || n == 0 {
		return ""
	}
	var out []string
	for _, k := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		if !strings.HasPrefix(k, "user.") {
			continue
		}
		v := make([]byte, 4096)
		m, err := unix.Lgetxattr(p, k, v)
		if err == nil {
			out = append(out, k+"="+string(v[:m]))
		}
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}
