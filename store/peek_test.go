package store

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/imgx/imgx/internal/testutil"
)

// TestPeekNamesChangesNothing: completion reads names from a store but never creates
// or completes one.
func TestPeekNamesChangesNothing(t *testing.T) {
	empty := t.TempDir()
	partial := t.TempDir()
	os.WriteFile(filepath.Join(partial, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
	for _, dir := range []string{empty, partial, filepath.Join(empty, "missing")} {
		before := testutil.TreeHash(t, filepath.Dir(dir))
		if got := PeekNames(dir); got != nil {
			t.Errorf("%s: %v", dir, got)
		}
		if after := testutil.TreeHash(t, filepath.Dir(dir)); after != before {
			t.Errorf("%s: PeekNames changed the tree", dir)
		}
	}
	root := t.TempDir()
	if _, err := Open(root); err != nil {
		t.Fatal(err)
	}
	if got := PeekNames(root); len(got) != 0 {
		t.Errorf("empty store: %v", got)
	}
}
