package store

import (
	"context"
	"fmt"
	"testing"

	"github.com/imgx/imgx/ref"
)

// TestHostileManyTagsCommit: a bundle's manifest may list tens of thousands of tags (a
// 54 KB zstd bundle carried 18000). Commit applied them one by one, each re-parsing every
// entry of index.json: quadratic, 10 minutes of CPU for one bundle while the store lock
// was held, so one small file stalled every ingest. Now it is linear. The result must be
// what applying the tags one by one gives: a tag that moves replaces its old entry, an
// untagged entry for the same image is absorbed, a repeated tag appears once.
func TestHostileManyTagsCommit(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	tx, err := s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a := stageImage(t, tx, []byte("a"))
	tx.Tag(ref.Ref{}, a) // untagged a: absorbed by the first tag of a
	tx.Tag(mustRef(t, "app:moves"), a)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	const n = 20000
	tx, _ = s.Begin(ctx)
	b := stageImage(t, tx, []byte("b"))
	for i := range n {
		tx.Tag(mustRef(t, fmt.Sprintf("app:t%d", i)), b)
	}
	tx.Tag(mustRef(t, "app:moves"), b) // moves from a to b
	tx.Tag(mustRef(t, "app:t7"), b)    // repeated
	tx.Tag(ref.Ref{}, b)               // b is tagged already: nothing added
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// Linear in work, not in wall-clock time (a shared machine skews that): re-tagging n
	// tags over an index of n entries parses each entry a few times. The quadratic commit
	// re-parsed the whole index per tag: n*n (4e8) parses.
	tx, _ = s.Begin(ctx)
	for i := range n {
		tx.Tag(mustRef(t, fmt.Sprintf("app:t%d", i)), b)
	}
	before := entryRefCalls.Load()
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if calls := entryRefCalls.Load() - before; calls > 10*n {
		t.Errorf("re-tagging %d tags parsed %d index entries, want at most %d", n, calls, 10*n)
	}
	ix, err := s.Index()
	if err != nil {
		t.Fatal(err)
	}
	if len(ix.Manifests) != n+1 {
		t.Fatalf("%d index entries, want %d", len(ix.Manifests), n+1)
	}
	seen := map[string]bool{}
	for _, d := range ix.Manifests {
		r, raw := entryRef(d)
		if r.IsZero() || raw != "" || d.Digest != b.Digest || seen[r.String()] {
			t.Fatalf("entry %+v (ref %q, raw %q): want each tag once, on b", d, r, raw)
		}
		seen[r.String()] = true
	}
	if !seen[mustRef(t, "app:moves").String()] {
		t.Error("app:moves lost")
	}
}
