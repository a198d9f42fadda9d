package atomicfile

import (
	"os"
	"path/filepath"
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
