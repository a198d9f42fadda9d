package ingest

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/imgx/imgx/transport/local"
)

// TestListDescribe: List returns the complete *.imgx files sorted, describes bundles from
// their heads (sequence, base, signers, tags) and marks a file that is not a bundle
// without stopping; uploads in progress and other files are not listed.
func TestListDescribe(t *testing.T) {
	k := newKit(t)
	k.image("app:1", "one")
	base := k.save("b-full.imgx", nil, "app:1")
	k.image("app:2", "two")
	k.save("c-delta.imgx", base, "app:2")
	dir := filepath.Join(k.incoming, "incoming")
	os.WriteFile(filepath.Join(dir, "a-junk.imgx"), []byte("not a bundle"), 0o644)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(dir, ".d.imgx.imgx-part"), []byte("partial"), 0o644)
	b, err := local.New(dir, local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	got, err := List(context.Background(), b, ListOptions{Describe: true})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range got {
		names = append(names, e.Name)
	}
	if len(got) != 3 || got[0].Name != "a-junk.imgx" || got[1].Name != "b-full.imgx" || got[2].Name != "c-delta.imgx" {
		t.Fatalf("listed %q", names)
	}
	if !got[0].NotBundle || got[0].Err == nil || got[0].Bundle != nil {
		t.Errorf("junk: %+v", got[0])
	}
	full, delta := got[1].Bundle, got[2].Bundle
	if full == nil || delta == nil {
		t.Fatalf("not described: %v, %v", got[1].Err, got[2].Err)
	}
	if full.Sequence != 0 || full.Base != nil || len(full.Images) != 1 || full.Images[0] != "app:1" || len(full.SignedBy) != 1 {
		t.Errorf("full: %+v", full)
	}
	if delta.Sequence != 1 || delta.Base == nil || delta.Base.Digest != base.Ref.Digest || delta.Images[0] != "app:2" {
		t.Errorf("delta: %+v", delta)
	}
	if full.SignedBy[0] != k.key.PublicKey().ID() {
		t.Errorf("signed by %q, want %q", full.SignedBy[0], k.key.PublicKey().ID())
	}
	all, err := List(context.Background(), b, ListOptions{All: true})
	if err != nil || len(all) != 4 || all[0].Bundle != nil {
		t.Errorf("--all: %d entries, %v", len(all), err)
	}
}
