package store

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestOpenExisting: a missing or empty directory is no store, and stays as it was; a
// store Open made opens.
func TestOpenExisting(t *testing.T) {
	dir := t.TempDir()
	missing, empty, made := filepath.Join(dir, "missing"), filepath.Join(dir, "empty"), filepath.Join(dir, "made")
	os.Mkdir(empty, 0o755)
	if _, err := Open(made); err != nil {
		t.Fatal(err)
	}
	for _, root := range []string{missing, empty} {
		if _, err := OpenExisting(root); !errors.Is(err, ErrNoStore) {
			t.Errorf("OpenExisting(%s) = %v, want ErrNoStore", root, err)
		}
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("OpenExisting created %s", missing)
	}
	if ents, _ := os.ReadDir(empty); len(ents) != 0 {
		t.Errorf("OpenExisting wrote into %s: %v", empty, ents)
	}
	if _, err := OpenExisting(made); err != nil {
		t.Errorf("OpenExisting(store): %v", err)
	}
}
