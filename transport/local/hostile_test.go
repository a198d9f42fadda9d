package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imgx/imgx/internal/testutil"
	"github.com/imgx/imgx/transport"
	"github.com/imgx/imgx/transport/transporttest"
)

// sentinel makes a tree outside the carrier that no carrier operation may change.
func sentinel(t *testing.T) (dir, file string) {
	t.Helper()
	dir = t.TempDir()
	file = filepath.Join(dir, "victim.conf")
	if err := os.WriteFile(file, []byte("precious = true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "b.imgx.001"), []byte("outside volume"), 0o644)
	return dir, file
}

func writeIndex(t *testing.T, p string, names ...string) {
	t.Helper()
	idx := volumeIndex{Version: 1, SplitSize: 14}
	for _, n := range names {
		idx.Volumes = append(idx.Volumes, volume{Name: n, Size: 14, SHA256: strings.Repeat("0", 64)})
		idx.Size += 14
	}
	js, _ := json.Marshal(&idx)
	if err := os.WriteFile(p, js, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestHostileVolumeIndex: a NAME.volumes on the carrier may only name NAME.001, NAME.002,
// ... in order. Anything else marks the set damaged; Stat, Open, Rename and Remove never
// touch a file the index names outside the set, inside or outside the carrier.
func TestHostileVolumeIndex(t *testing.T) {
	out, victim := sentinel(t)
	for _, tc := range []struct {
		name  string
		names []string
		bad   string
	}{
		{"traversal", []string{"{victim}"}, "../"},
		{"traversal-outside-volume", []string{"b.imgx.001", "{outvol}"}, "../"},
		{"absolute", []string{victim}, victim},
		{"other-file", []string{"keep.txt"}, "keep.txt"},
		{"other-set", []string{"a.imgx.001"}, "a.imgx.001"},
		{"wrong-order", []string{"b.imgx.002", "b.imgx.001"}, "b.imgx.002"},
		{"gap", []string{"b.imgx.001", "b.imgx.003"}, "b.imgx.003"},
		{"newline", []string{"b.imgx.001\n"}, `b.imgx.001\n`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "carrier")
			os.MkdirAll(filepath.Join(root, "in"), 0o755)
			os.MkdirAll(filepath.Join(root, "done"), 0o755)
			for _, n := range []string{"keep.txt", "a.imgx.001", "b.imgx.001", "b.imgx.002", "b.imgx.003"} {
				os.WriteFile(filepath.Join(root, "in", n), []byte("fourteen bytes"), 0o644)
			}
			// {victim} and {outvol} become relative paths from the carrier to the sentinel tree.
			var names []string
			for _, n := range tc.names {
				switch n {
				case "{victim}":
					n, _ = filepath.Rel(filepath.Join(root, "in"), victim)
				case "{outvol}":
					n, _ = filepath.Rel(filepath.Join(root, "in"), filepath.Join(out, "b.imgx.001"))
				}
				names = append(names, n)
			}
			if _, err := os.Stat(filepath.Join(root, "in", names[len(names)-1])); strings.HasPrefix(tc.name, "traversal") && err != nil {
				t.Fatalf("test setup: %v", err)
			}
			writeIndex(t, filepath.Join(root, "in", "b.imgx.volumes"), names...)
			before := testutil.TreeHash(t, out)
			keep := testutil.TreeHash(t, filepath.Join(root, "in"))
			b, err := New(root, Options{})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			check := func(op string, err error) {
				t.Helper()
				if err == nil || errors.Is(err, os.ErrNotExist) {
					t.Fatalf("%s: %v, want a damaged-set error", op, err)
				}
				if !strings.Contains(err.Error(), "b.imgx.volumes") || !strings.Contains(err.Error(), tc.bad) {
					t.Errorf("%s: %v: does not name the index and the bad entry %q", op, err, tc.bad)
				}
			}
			_, err = b.Stat(ctx, "in/b.imgx")
			check("stat", err)
			_, err = b.Open(ctx, "in/b.imgx", 0)
			check("open", err)
			check("rename", b.Rename(ctx, "in/b.imgx", "done/b.imgx"))
			check("remove", b.Remove(ctx, "in/b.imgx"))
			if after := testutil.TreeHash(t, out); after != before {
				t.Errorf("outside tree changed:\n%s\nwant\n%s", after, before)
			}
			if after := testutil.TreeHash(t, filepath.Join(root, "in")); after != keep {
				t.Errorf("carrier changed:\n%s\nwant\n%s", after, keep)
			}
		})
	}
}

// TestHostileTempSymlink: a symlink (or hard link, or FIFO) planted at an upload's
// temporary or state name is refused, never written through.
func TestHostileTempSymlink(t *testing.T) {
	ctx := context.Background()
	data := transporttest.Data(1, 300<<10)
	for _, tc := range []struct {
		name  string
		split int64
		plant func(t *testing.T, dir, victim string)
	}{
		{"temp-symlink", -1, func(t *testing.T, dir, victim string) {
			os.Symlink(victim, filepath.Join(dir, ".x.imgx"+transport.TempSuffix))
		}},
		{"temp-dangling-symlink", -1, func(t *testing.T, dir, victim string) {
			os.Symlink(victim+".new", filepath.Join(dir, ".x.imgx"+transport.TempSuffix))
		}},
		{"temp-hardlink", -1, func(t *testing.T, dir, victim string) {
			if err := os.Link(victim, filepath.Join(dir, ".x.imgx"+transport.TempSuffix)); err != nil {
				t.Fatal("hard link inside one temporary directory:", err)
			}
		}},
		{"temp-fifo", -1, func(t *testing.T, dir, victim string) {
			syscall.Mkfifo(filepath.Join(dir, ".x.imgx"+transport.TempSuffix), 0o644)
		}},
		{"state-symlink", -1, func(t *testing.T, dir, victim string) {
			os.WriteFile(filepath.Join(dir, ".x.imgx"+transport.TempSuffix), data[:100<<10], 0o644)
			os.Symlink(victim, filepath.Join(dir, ".x.imgx"+transport.StateSuffix))
		}},
		{"volume-temp-symlink", 64 << 10, func(t *testing.T, dir, victim string) {
			os.Symlink(victim, filepath.Join(dir, ".x.imgx.001"+transport.TempSuffix))
		}},
		{"second-volume-temp-symlink", 64 << 10, func(t *testing.T, dir, victim string) {
			os.WriteFile(filepath.Join(dir, ".x.imgx.001"+transport.TempSuffix), data[:64<<10], 0o644)
			os.Symlink(victim, filepath.Join(dir, ".x.imgx.002"+transport.TempSuffix))
		}},
		{"index-temp-symlink", 64 << 10, func(t *testing.T, dir, victim string) {
			os.Symlink(victim, filepath.Join(dir, ".x.imgx.volumes"+transport.TempSuffix))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, victim := sentinel(t)
			dir := t.TempDir()
			tc.plant(t, dir, victim)
			before := testutil.TreeHash(t, out)
			b, err := New(dir, Options{SplitSize: tc.split})
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				_, err := transport.Put(ctx, b, "x.imgx", bytes.NewReader(data), transport.PutOptions{CheckpointInterval: 64 << 10, SaveEvery: 1})
				done <- err
			}()
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("put blocked")
			}
			if after := testutil.TreeHash(t, out); after != before {
				t.Fatalf("outside file written through the carrier (put: %v):\n%s", err, after)
			}
			if err != nil {
				if !strings.Contains(err.Error(), "refus") {
					t.Errorf("put: %v: want a clear refusal", err)
				}
				return
			}
			// Where the planted entry could be replaced safely, the upload succeeded.
			if got := transporttest.ReadAll(t, b, "x.imgx", 0); !bytes.Equal(got, data) {
				t.Error("published data differs")
			}
		})
	}
}

// TestHostileCarrierEntries: symlinks, FIFOs and names with control characters in a
// carrier directory are skipped by List (with a notice) and refused by Open without
// blocking; renaming or removing a hard link to an outside file leaves that file intact.
func TestHostileCarrierEntries(t *testing.T) {
	ctx := context.Background()
	out, victim := sentinel(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "good.imgx"), []byte("good"), 0o644)
	os.Symlink(victim, filepath.Join(dir, "link.imgx"))
	os.Symlink("good.imgx", filepath.Join(dir, "inner-link.imgx"))
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.imgx"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "evil\nfailed: x.imgx"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(dir, "esc\x1b[2J.imgx"), []byte("x"), 0o644)
	hard := os.Link(victim, filepath.Join(dir, "hard.imgx")) == nil
	os.Mkdir(filepath.Join(dir, "done"), 0o755)
	before := testutil.TreeHash(t, out)

	var notices []string
	b, err := New(dir, Options{Notice: func(m string) { notices = append(notices, m) }})
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	if err := b.List(ctx, "", func(fi transport.FileInfo) error { listed = append(listed, fi.Name); return nil }); err != nil {
		t.Fatal(err)
	}
	want := []string{"done", "good.imgx"}
	if hard {
		want = []string{"done", "good.imgx", "hard.imgx"}
	}
	if strings.Join(listed, ",") != strings.Join(want, ",") {
		t.Errorf("listed %q, want %q", listed, want)
	}
	if len(notices) != 5 {
		t.Errorf("notices %q, want one per skipped entry (5)", notices)
	}
	for _, n := range notices {
		if strings.ContainsAny(n, "\n\x1b") {
			t.Errorf("notice carries a raw control character: %q", n)
		}
	}
	for _, name := range []string{"link.imgx", "inner-link.imgx", "fifo.imgx"} {
		done := make(chan error, 1)
		go func() {
			rc, err := b.Open(ctx, name, 0)
			if err == nil {
				rc.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("open %s: opened", name)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("open %s blocked", name)
		}
	}
	if hard {
		// A hard link is a name on the carrier: moving or removing it never changes
		// the other name's content.
		if err := b.Rename(ctx, "hard.imgx", "done/hard.imgx"); err != nil {
			t.Fatal(err)
		}
		if err := b.Remove(ctx, "done/hard.imgx"); err != nil {
			t.Fatal(err)
		}
	}
	// Moving and removing a symlink moves the link, never its target.
	if err := b.Rename(ctx, "link.imgx", "done/link.imgx"); err != nil {
		t.Fatal(err)
	}
	if err := b.Remove(ctx, "done/link.imgx"); err != nil {
		t.Fatal(err)
	}
	if after := testutil.TreeHash(t, out); after != before {
		t.Errorf("outside tree changed:\n%s", after)
	}
}

// TestHostileSymlinkedSubdir: a carrier subdirectory (done/, failed/) replaced by a link
// out of the carrier is not followed: moving a bundle there, writing a reason file or an
// upload into it fail, and the outside directory is unchanged.
func TestHostileSymlinkedSubdir(t *testing.T) {
	ctx := context.Background()
	out, _ := sentinel(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "good.imgx"), []byte("good"), 0o644)
	os.Symlink(out, filepath.Join(dir, "done"))
	before := testutil.TreeHash(t, out)
	b, err := New(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Rename(ctx, "good.imgx", "done/good.imgx"); err == nil {
		t.Error("rename into a linked directory succeeded")
	}
	if _, err := transport.Put(ctx, b, "done/good.imgx.reason", strings.NewReader("reason"), transport.PutOptions{}); err == nil {
		t.Error("put into a linked directory succeeded")
	}
	if err := b.Remove(ctx, "done/victim.conf"); err == nil {
		t.Error("remove through a linked directory succeeded")
	}
	if _, err := b.Open(ctx, "done/victim.conf", 0); err == nil {
		t.Error("open through a linked directory succeeded")
	}
	if after := testutil.TreeHash(t, out); after != before {
		t.Errorf("outside tree changed:\n%s", after)
	}
}
