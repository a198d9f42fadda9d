package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestWriteFileReplacesWhole(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "index.json")
	if err := WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("new content"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	fi, _ := os.Stat(p)
	if string(b) != "new content" || fi.Mode().Perm() != 0o600 {
		t.Errorf("got %q %v", b, fi.Mode())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("temporary files left: %v", ents)
	}
}

func TestAbortLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.tar")
	f, err := Create(p, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("partial"))
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Error("final name visible before commit")
	}
	f.Abort()
	f.Abort() // idempotent
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("abort left %v", ents)
	}
	if err := f.Commit(); err == nil {
		t.Error("commit after abort succeeded")
	}
}

// TestHostileTempLink: a link planted at the temporary name is skipped, never written
// through; a link at the final name is replaced by the file, its target untouched.
func TestHostileTempLink(t *testing.T) {
	dir, out := t.TempDir(), t.TempDir()
	victim := filepath.Join(out, "victim")
	os.WriteFile(victim, []byte("keep"), 0o644)
	names := []string{"planted", "fresh"}
	orig := tempSuffix
	tempSuffix = func() string { s := names[0]; names = names[1:]; return s }
	t.Cleanup(func() { tempSuffix = orig })
	p := filepath.Join(dir, "key")
	os.Symlink(victim, filepath.Join(dir, ".key.tmp-planted"))
	os.Symlink(victim, p)
	if err := WriteFile(p, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep" {
		t.Fatalf("victim now %q", b)
	}
	if fi, _ := os.Stat(victim); fi.Mode().Perm() != 0o644 {
		t.Errorf("victim mode changed to %v", fi.Mode())
	}
	if fi, err := os.Lstat(p); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
		t.Fatalf("final file: %v %v", fi, err)
	}
}

// TestSyncDirPolicy pins the one directory-sync policy: "cannot sync a directory here"
// (EINVAL, ENOTSUP) is not an error, a real failure is.
func TestSyncDirPolicy(t *testing.T) {
	for _, tc := range []struct {
		err    error
		ignore bool
	}{
		{syscall.EINVAL, true},
		{syscall.ENOTSUP, true},
		{&os.PathError{Op: "sync", Path: "d", Err: syscall.EINVAL}, true},
		{syscall.EIO, false},
		{syscall.ENOSPC, false},
		{syscall.EROFS, false},
	} {
		if got := cannotSyncDir(tc.err); got != tc.ignore {
			t.Errorf("cannotSyncDir(%v) = %v, want %v", tc.err, got, tc.ignore)
		}
	}
	if err := SyncDir(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if err := SyncDir(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("SyncDir of a missing directory succeeded")
	}
}

// TestHostileFixedTemp: with a fixed temporary name (the carrier's), a link planted there
// is unlinked, not written through; NoReplace refuses an existing final name.
func TestHostileFixedTemp(t *testing.T) {
	dir, out := t.TempDir(), t.TempDir()
	victim := filepath.Join(out, "victim")
	os.WriteFile(victim, []byte("keep"), 0o644)
	os.Symlink(victim, filepath.Join(dir, ".state.part"))
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := WriteFileAt(d, "state", []byte("new"), 0o644, Options{Temp: ".state.part"}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep" {
		t.Fatalf("victim now %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "state")); string(b) != "new" {
		t.Fatalf("state = %q", b)
	}
	err = WriteFileAt(d, "state", []byte("other"), 0o644, Options{NoReplace: true})
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("NoReplace over an existing file: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "state")); string(b) != "new" {
		t.Fatalf("state replaced: %q", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("left behind: %v", ents)
	}
}
