package store

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/internal/testutil"
	"github.com/imgx/imgx/ref"
)

// gcFixture is a store with two tagged images and one unreferenced blob, so that a
// prune that runs at all deletes something.
type gcFixture struct {
	s        *Store
	app1     ocispec.Descriptor
	app2     ocispec.Descriptor
	app2m    ocispec.Manifest
	garbage  digest.Digest
	manifest func(d ocispec.Descriptor) ocispec.Manifest
}

func newGCFixture(t *testing.T) *gcFixture {
	t.Helper()
	ctx := context.Background()
	s := newStore(t)
	tx, _ := s.Begin(ctx)
	a := stageImage(t, tx, []byte("layer of app 1"))
	b := stageImage(t, tx, []byte("layer of app 2"))
	tx.Tag(mustRef(t, "app:1"), a)
	tx.Tag(mustRef(t, "app:2"), b)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	garbage := digest.FromString("nobody uses me")
	if err := os.WriteFile(s.BlobPath(garbage), []byte("nobody uses me"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := &gcFixture{s: s, app1: a, app2: b, garbage: garbage}
	f.manifest = func(d ocispec.Descriptor) ocispec.Manifest {
		var m ocispec.Manifest
		data, err := os.ReadFile(s.BlobPath(d.Digest))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	f.app2m = f.manifest(b)
	return f
}

// addEntry appends a raw descriptor to index.json, as another tool could.
func (f *gcFixture) addEntry(t *testing.T, d ocispec.Descriptor) {
	t.Helper()
	if err := f.s.updateIndex(func(ix *ocispec.Index) error {
		ix.Manifests = append(ix.Manifests, d)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// putRaw stores bytes under their own digest, bypassing every check.
func (f *gcFixture) putRaw(t *testing.T, data []byte) digest.Digest {
	t.Helper()
	d := digest.FromBytes(data)
	if err := os.WriteFile(f.s.BlobPath(d), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestHostilePruneIncompleteGraph: when prune cannot learn everything index.json reaches
// it deletes nothing (the store stays byte-identical) and names the cause.
func TestHostilePruneIncompleteGraph(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(t *testing.T, f *gcFixture)
		want   []string // substrings of the error (the image and the blob or file)
	}{
		{"index.json not JSON", func(t *testing.T, f *gcFixture) {
			os.WriteFile(f.s.indexPath(), []byte(`{"schemaVersion":2,"manifests":[`), 0o644)
		}, []string{"index.json"}},
		{"index.json unreadable (a directory)", func(t *testing.T, f *gcFixture) {
			os.Remove(f.s.indexPath())
			os.Mkdir(f.s.indexPath(), 0o755)
		}, []string{"index.json"}},
		{"manifest not JSON", func(t *testing.T, f *gcFixture) {
			bad := []byte("this is not a manifest")
			d := f.putRaw(t, bad)
			f.addEntry(t, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: d, Size: int64(len(bad)),
				Annotations: map[string]string{AnnotationRefName: "broken:json"}})
		}, []string{"broken:json", "parse"}},
		{"manifest blob missing", func(t *testing.T, f *gcFixture) {
			os.Remove(f.s.BlobPath(f.app2.Digest))
		}, []string{"app:2", f2(t).Digest.String()}},
		{"manifest bytes do not match digest (same size)", func(t *testing.T, f *gcFixture) {
			data, _ := os.ReadFile(f.s.BlobPath(f.app2.Digest))
			data[len(data)-2] ^= 1
			os.WriteFile(f.s.BlobPath(f.app2.Digest), data, 0o644)
		}, []string{"app:2", "digest mismatch"}},
		{"manifest bytes do not match digest (other size)", func(t *testing.T, f *gcFixture) {
			os.WriteFile(f.s.BlobPath(f.app2.Digest), []byte(`{"schemaVersion":2}`), 0o644)
		}, []string{"app:2", "size"}},
		{"index lists a missing manifest", func(t *testing.T, f *gcFixture) {
			gone := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("gone"), Size: 4}
			ix := ocispec.Index{Manifests: []ocispec.Descriptor{f.app1, gone}, MediaType: ocispec.MediaTypeImageIndex}
			ix.SchemaVersion = 2
			data, _ := json.Marshal(ix)
			d := f.putRaw(t, data)
			f.addEntry(t, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: d, Size: int64(len(data)),
				Annotations: map[string]string{AnnotationRefName: "multi:1"}})
		}, []string{"multi:1", digest.FromString("gone").String()}},
		{"entry with an invalid digest", func(t *testing.T, f *gcFixture) {
			f.addEntry(t, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: "sha256:zzzz", Size: 3,
				Annotations: map[string]string{AnnotationRefName: "bad:digest"}})
		}, []string{"bad:digest", "sha256:zzzz"}},
		{"entry of a media type whose references are unknown", func(t *testing.T, f *gcFixture) {
			f.addEntry(t, ocispec.Descriptor{MediaType: "application/vnd.example.unknown+json", Digest: f.garbage, Size: 14,
				Annotations: map[string]string{AnnotationRefName: "odd:1"}})
		}, []string{"odd:1", "application/vnd.example.unknown+json"}},
	}
	for _, tt := range tests {
		for _, untagged := range []bool{false, true} {
			name := tt.name
			if untagged {
				name += "/untagged" // prune --untagged: an untagged image it would remove
			}
			t.Run(name, func(t *testing.T) {
				f := newGCFixture(t)
				if untagged {
					f.addUntagged(t, "layer of an untagged image")
				}
				tt.break_(t, f)
				before := testutil.TreeHash(t, f.s.Root())
				rep, err := f.s.PruneWith(context.Background(), PruneOptions{Untagged: untagged})
				if err == nil {
					t.Fatalf("Prune succeeded (deleted %d blobs), want an error", len(rep.Blobs))
				}
				if !errors.Is(err, ErrIncomplete) {
					t.Errorf("Prune error %q does not wrap ErrIncomplete", err)
				}
				for _, w := range tt.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("Prune error %q does not name %q", err, w)
					}
				}
				if len(rep.Blobs) != 0 || rep.BytesFreed != 0 || len(rep.Images) != 0 {
					t.Errorf("report claims deletions: %+v", rep)
				}
				if after := testutil.TreeHash(t, f.s.Root()); after != before {
					t.Errorf("store changed:\nbefore:\n%s\nafter:\n%s", before, after)
				}
			})
		}
	}
}

// addUntagged commits an image without a name (as pull by digest or save --flatten's
// temporary leave them) and returns its manifest.
func (f *gcFixture) addUntagged(t *testing.T, layer string) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	tx, _ := f.s.Begin(ctx)
	d := stageImage(t, tx, []byte(layer))
	tx.Tag(ref.Ref{}, d)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestPruneUntagged: prune --untagged removes the images index.json lists without a
// name, then every blob no remaining image reaches; blobs a tagged image shares with a
// removed one stay. Plain prune keeps untagged images.
func TestPruneUntagged(t *testing.T) {
	ctx := context.Background()
	f := newGCFixture(t)
	u := f.addUntagged(t, "layer of an untagged image")
	um := f.manifest(u)
	// An untagged image sharing app 1's layer (another config): the layer stays.
	a1 := f.manifest(f.app1)
	tx, _ := f.s.Begin(ctx)
	cfg, _ := tx.PutBytes(ctx, ocispec.MediaTypeImageConfig, []byte(`{"architecture":"arm64","os":"linux","rootfs":{"type":"layers","diff_ids":["`+a1.Layers[0].Digest.String()+`"]}}`))
	sm := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cfg, Layers: a1.Layers}
	sm.SchemaVersion = 2
	smb, _ := json.Marshal(sm)
	shared, _ := tx.PutBytes(ctx, ocispec.MediaTypeImageManifest, smb)
	tx.Tag(ref.Ref{}, shared)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := f.s.Prune(ctx)
	if err != nil || len(rep.Images) != 0 || !f.s.Has(u.Digest) {
		t.Fatalf("plain prune: %+v, %v; the untagged image must stay", rep, err)
	}
	rep, err = f.s.PruneWith(ctx, PruneOptions{Untagged: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Images) != 2 || rep.Images[0].Digest != u.Digest || rep.Images[0].ID != um.Config.Digest || rep.Images[1].Digest != shared.Digest {
		t.Errorf("images removed %+v, want %s (ID %s) and %s", rep.Images, u.Digest, um.Config.Digest, shared.Digest)
	}
	if !f.s.Has(a1.Layers[0].Digest) {
		t.Error("the layer app 1 shares with a removed image was removed")
	}
	for _, d := range []digest.Digest{u.Digest, um.Config.Digest, um.Layers[0].Digest, shared.Digest, cfg.Digest} {
		if f.s.Has(d) {
			t.Errorf("blob %s of the untagged image is still there", d)
		}
	}
	for _, d := range []ocispec.Descriptor{f.app1, f.app2} {
		if _, err := f.s.ImageID(ctx, d); err != nil {
			t.Errorf("tagged image %s damaged: %v", d.Digest, err)
		}
	}
	entries, _ := f.s.Entries()
	if len(entries) != 2 {
		t.Errorf("index.json lists %d entries, want app:1 and app:2", len(entries))
	}
	if c, err := f.s.Check(ctx); err != nil || !c.OK() {
		t.Errorf("check after prune --untagged: %+v, %v", c, err)
	}
}

// f2 exists only so the table can name app:2's manifest digest: fixtures are
// deterministic, so a throwaway one has the same digests.
func f2(t *testing.T) ocispec.Descriptor { return newGCFixture(t).app2 }

// TestPruneMissingLeaf: a missing config or layer hides nothing (leaves have no
// children), so prune still removes what no image reaches, keeps everything else, and
// reports the missing blob.
func TestPruneMissingLeaf(t *testing.T) {
	for _, which := range []string{"config", "layer"} {
		t.Run(which, func(t *testing.T) {
			f := newGCFixture(t)
			gone := f.app2m.Config.Digest
			if which == "layer" {
				gone = f.app2m.Layers[0].Digest
			}
			os.Remove(f.s.BlobPath(gone))
			rep, err := f.s.Prune(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Blobs) != 1 || rep.Blobs[0] != f.garbage {
				t.Errorf("pruned %v, want only %s", rep.Blobs, f.garbage)
			}
			if len(rep.Missing) != 1 || rep.Missing[0] != gone {
				t.Errorf("report.Missing = %v, want [%s]", rep.Missing, gone)
			}
			for _, d := range []ocispec.Descriptor{f.app1, f.app2, f.app2m.Layers[0], f.app2m.Config} {
				if d.Digest != gone && !f.s.Has(d.Digest) {
					t.Errorf("prune removed %s (%s), still used", d.Digest, d.MediaType)
				}
			}
			ents, _ := os.ReadDir(filepath.Join(f.s.Root(), "blobs", "sha256"))
			if len(ents) != 5 {
				t.Errorf("%d blobs left, want 5", len(ents))
			}
		})
	}
}
