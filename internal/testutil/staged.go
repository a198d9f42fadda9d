package testutil

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Staged lists the blobs a store keeps staged for a re-run (.imgx/staged/sha256 under
// storeRoot), hex digest to size. It fails t if any staged file does not hash to its
// name: only verified blobs may stay staged.
func Staged(t testing.TB, storeRoot string) map[string]int64 {
	t.Helper()
	dir := filepath.Join(storeRoot, ".imgx", "staged", "sha256")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("staged blobs: %v", err)
	}
	out := map[string]int64{}
	for _, e := range ents {
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatalf("staged blob %s: %v", e.Name(), err)
		}
		h := sha256.New()
		n, err := io.Copy(h, f)
		f.Close()
		if err != nil {
			t.Fatalf("staged blob %s: %v", e.Name(), err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != e.Name() {
			t.Errorf("staged blob %s hashes to %s: an unverified blob was kept", e.Name(), got)
		}
		out[e.Name()] = n
	}
	return out
}

// VisibleTreeHash is [TreeHash] of a store without its staging area, after checking (with
// [Staged]) that every blob kept there is verified: the "store unchanged" check after a
// failed load or pull, which may keep verified blobs staged for the re-run.
func VisibleTreeHash(t testing.TB, storeRoot string) string {
	t.Helper()
	Staged(t, storeRoot)
	var keep []string
	for _, l := range strings.Split(TreeHash(t, storeRoot), "\n") {
		if !strings.Contains(l, ".imgx/staged/") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}
