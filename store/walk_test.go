package store

import (
	"context"
	"errors"
	"os"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestWalk(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	tx, err := s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a := stageImage(t, tx, []byte("shared layer"))
	b := stageImage(t, tx, []byte("other layer"))
	tx.Tag(mustRef(t, "a:1"), a)
	tx.Tag(mustRef(t, "b:1"), b)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	err = s.Walk(ctx, []ocispec.Descriptor{a, a, b}, func(d ocispec.Descriptor) error {
		kinds = append(kinds, d.MediaType)
		return nil
	})
	want := []string{ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageConfig, ocispec.MediaTypeImageLayer,
		ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageConfig, ocispec.MediaTypeImageLayer}
	if err != nil || len(kinds) != len(want) {
		t.Fatalf("walk: %v %q", err, kinds)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Errorf("visit %d: %s, want %s", i, kinds[i], want[i])
		}
	}
	// A corrupted manifest stops the walk with the store's digest error.
	if err := os.WriteFile(s.BlobPath(b.Digest), []byte(`{"schemaVersion":2}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Walk(ctx, []ocispec.Descriptor{b}, func(ocispec.Descriptor) error { return nil }); !errors.Is(err, ErrDigestMismatch) && !errors.Is(err, ErrSizeMismatch) {
		t.Errorf("walk of a corrupted manifest: %v", err)
	}

	var ue *UnreadableError
	if err := s.Walk(ctx, []ocispec.Descriptor{b}, func(ocispec.Descriptor) error { return nil }); !errors.As(err, &ue) || ue.Desc.Digest != b.Digest {
		t.Errorf("walk of a corrupted manifest: %v, want an *UnreadableError naming it", err)
	}

	// Report and continue: the broken root's children are skipped, the other root is walked.
	var reported []string
	kinds = nil
	err = s.Walk(ctx, []ocispec.Descriptor{b, a}, func(d ocispec.Descriptor) error {
		kinds = append(kinds, d.MediaType)
		return nil
	}, OnUnreadable(func(ue *UnreadableError) error {
		reported = append(reported, ue.Desc.Digest.String())
		return nil
	}))
	if err != nil || len(reported) != 1 || reported[0] != b.Digest.String() || len(kinds) != 4 {
		t.Errorf("report-and-continue walk: err %v, reported %v, visited %q", err, reported, kinds)
	}

	// SkipChildren skips what a manifest lists.
	kinds = nil
	err = s.Walk(ctx, []ocispec.Descriptor{a}, func(d ocispec.Descriptor) error {
		kinds = append(kinds, d.MediaType)
		return SkipChildren
	})
	if err != nil || len(kinds) != 1 {
		t.Errorf("SkipChildren: %v, visited %q", err, kinds)
	}
}
