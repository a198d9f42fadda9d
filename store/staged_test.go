package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// Blobs a failed transaction kept staged are reused (and counted) by the next one; a
// transaction that did not write them does not remove them when discarded; check counts
// them as leftovers and prune removes them, so they do not pile up.
func TestStagedBlobsReusedThenPruned(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	tx, _ := s.Begin(ctx)
	d, err := tx.PutBytes(ctx, "x", []byte("verified layer"))
	if err != nil {
		t.Fatal(err)
	}
	tx.Suspend()

	tx2, _ := s.Begin(ctx)
	if _, err := tx2.PutBytes(ctx, "x", []byte("verified layer")); err != nil {
		t.Fatal(err)
	}
	if tx2.Reused() != 1 || tx2.BytesWritten() != 0 {
		t.Errorf("second tx: reused %d, wrote %d bytes; want 1 and 0", tx2.Reused(), tx2.BytesWritten())
	}
	tx2.Discard()
	if _, err := os.Stat(s.stagedPath(d.Digest)); err != nil {
		t.Fatalf("discarding a tx removed a blob an earlier one staged: %v", err)
	}
	rep, err := s.Check(ctx)
	if err != nil || !rep.OK() || rep.Leftovers != 1 {
		t.Fatalf("check: %v %+v, want 1 leftover and no problem", err, rep)
	}
	pr, err := s.Prune(ctx)
	if err != nil || pr.Leftovers != 1 {
		t.Fatalf("prune: %v %+v, want 1 leftover removed", err, pr)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.root, stagedDir)); len(ents) != 0 {
		t.Errorf("%d staged blobs left after prune", len(ents))
	}
}
