package store

import (
	"context"
	"os"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/internal/testutil"
)

// TestEntryRef pins how an index.json entry's annotations become its tag, for the
// combinations imgx, skopeo, umoci and containerd write (see entryRef).
func TestEntryRef(t *testing.T) {
	tests := []struct {
		name, refName, full string
		want                string // full reference, or "raw:NAME" for an invalid name
	}{
		{"imgx", "app:1.0", "docker.io/library/app:1.0", "docker.io/library/app:1.0"},
		{"imgx, registry host", "registry.lan/app:2", "registry.lan/app:2", "registry.lan/app:2"},
		{"skopeo oci:STORE:debian:bookworm", "debian:bookworm", "", "docker.io/library/debian:bookworm"},
		{"umoci new --image STORE:scratch", "scratch", "", "docker.io/library/scratch:latest"},
		{"containerd export: ref.name is the tag", "1.0", "docker.io/library/app:1.0", "docker.io/library/app:1.0"},
		{"containerd name only", "", "registry.lan/team/app:3", "registry.lan/team/app:3"},
		{"umoci config --tag app:build-412 on app:layered", "app:build-412", "docker.io/library/app:layered", "docker.io/library/app:build-412"},
		{"umoci config --tag build-413 on app:layered", "build-413", "docker.io/library/app:layered", "docker.io/library/build-413:latest"},
		{"umoci repack --image STORE:rp", "rp", "docker.io/library/app:layered", "docker.io/library/rp:latest"},
		{"ref.name not a reference, containerd name valid", "Not/A/Ref", "docker.io/library/app:layered", "raw:Not/A/Ref"},
		{"both invalid", "Bad Name", "Also Bad", "raw:Bad Name"},
		{"containerd name invalid", "app:2", "Bad Name", "docker.io/library/app:2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := map[string]string{}
			if tt.refName != "" {
				a[AnnotationRefName] = tt.refName
			}
			if tt.full != "" {
				a[AnnotationFullName] = tt.full
			}
			r, raw := entryRef(ocispec.Descriptor{Annotations: a})
			got := r.String()
			if r.IsZero() {
				got = "raw:" + raw
			}
			if got != tt.want {
				t.Errorf("ref.name %q, containerd name %q: %s, want %s", tt.refName, tt.full, got, tt.want)
			}
		})
	}
}

// TestRemoveOnlyWhatIsNamed: two index entries for one manifest, written the way umoci
// writes a new tag (ref.name changed, containerd name copied from the old entry).
// Removing one name removes that entry only; the blobs stay, the other name resolves.
func TestRemoveOnlyWhatIsNamed(t *testing.T) {
	ctx := context.Background()
	f := newGCFixture(t)
	if err := f.s.updateIndex(func(ix *ocispec.Index) error {
		d := f.app1
		d.Annotations = map[string]string{AnnotationRefName: "app:build-412", AnnotationFullName: "docker.io/library/app:1"}
		ix.Manifests = append(ix.Manifests, d)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	r, err := f.s.Resolve(ctx, "app:build-412")
	if err != nil {
		t.Fatal(err)
	}
	removed, rep, err := f.s.Remove(ctx, r.Matches, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0].Display() != "app:build-412" {
		t.Fatalf("removed %v, want only app:build-412", removed)
	}
	if len(rep.Blobs) != 1 || rep.Blobs[0] != f.garbage {
		t.Errorf("pruned %v, want only the unreferenced blob", rep.Blobs)
	}
	for _, name := range []string{"app:1", "app:2"} {
		if r, err := f.s.Resolve(ctx, name); err != nil {
			t.Errorf("%s after removing app:build-412: %v", name, err)
		} else if !f.s.Has(r.Desc.Digest) {
			t.Errorf("%s: manifest deleted", name)
		}
	}
	if c, _ := f.s.Check(ctx); !c.OK() {
		t.Errorf("check after rmi: %v", c.Problems)
	}

	// By digest: every entry of that image goes.
	r, _ = f.s.Resolve(ctx, f.app2.Digest.String())
	removed, _, err = f.s.Remove(ctx, r.Matches, false)
	if err != nil || len(removed) != 1 || removed[0].Display() != "app:2" {
		t.Errorf("remove by digest: %v %v", removed, err)
	}
}

// TestHostileRemoveIncompleteGraph: rmi with prune changes nothing when an image that
// stays cannot be read, and removes a broken image itself.
func TestHostileRemoveIncompleteGraph(t *testing.T) {
	ctx := context.Background()
	f := newGCFixture(t)
	if err := os.WriteFile(f.s.BlobPath(f.app2.Digest), []byte(`{"schemaVersion":2}`), 0o644); err != nil {
		t.Fatal(err)
	}
	before := testutil.TreeHash(t, f.s.Root())
	r1, _ := f.s.Resolve(ctx, "app:1")
	if _, _, err := f.s.Remove(ctx, r1.Matches, true); err == nil || !strings.Contains(err.Error(), "app:2") {
		t.Fatalf("Remove(app:1) with app:2 broken = %v, want an error naming app:2", err)
	}
	if after := testutil.TreeHash(t, f.s.Root()); after != before {
		t.Fatalf("store changed:\n%s\n%s", before, after)
	}
	r2, _ := f.s.Resolve(ctx, "app:2")
	removed, rep, err := f.s.Remove(ctx, r2.Matches, true)
	if err != nil || len(removed) != 1 {
		t.Fatalf("Remove(broken app:2) = %v, %v", removed, err)
	}
	if len(rep.Blobs) != 4 { // app:2's manifest, config, layer and the unreferenced blob
		t.Errorf("pruned %d blobs, want 4", len(rep.Blobs))
	}
	if c, _ := f.s.Check(ctx); !c.OK() || c.Images != 1 {
		t.Errorf("check after removing the broken image: %+v", c)
	}
}
