package semtag

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/image"
	"github.com/imgx/imgx/ref"
	"github.com/imgx/imgx/store"
)

func importFile(t *testing.T, s *store.Store, content string) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "f", Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg})
	tw.Write([]byte(content))
	tw.Close()
	tx, err := s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Discard()
	desc, err := image.Import(ctx, tx, &buf, image.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := ref.ParseNamed("build:" + content)
	tx.Tag(r, desc)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return desc
}

func TestApply(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	new, old := importFile(t, s, "1.9.4"), importFile(t, s, "1.9.2")
	res, err := Apply(ctx, s, new, "v1.9.4", "example/app", false)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(res.Tagged); got != "example/app:1.9.4 example/app:1.9 example/app:1 example/app:latest " {
		t.Fatalf("tagged %q", got)
	}
	res, err = Apply(ctx, s, old, "1.9.2", "example/app", false)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(res.Tagged); got != "example/app:1.9.2 " || len(res.Kept) != 3 {
		t.Fatalf("older patch: tagged %q, kept %+v", got, res.Kept)
	}
	latest, _ := ref.ParseNamed("example/app:latest")
	if r, err := s.Resolve(ctx, latest.String()); err != nil || r.Desc.Digest != new.Digest {
		t.Fatalf("latest = %v, %v; want %s", r.Desc.Digest, err, new.Digest)
	}
	for _, tc := range []struct {
		version, repo string
		force         bool
		want          error
	}{
		{"1.9.4", "example/app", false, ErrExists},
		{"1.2", "example/app", false, ErrInvalid},
		{"1.9.5", "example/app:1", false, ErrInvalid},
		{"1.9.4", "example/app", true, nil},
	} {
		_, err := Apply(ctx, s, old, tc.version, tc.repo, tc.force)
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("Apply(%s, %s, force=%v) = %v, want %v", tc.version, tc.repo, tc.force, err, tc.want)
		}
	}
}

func names(rs []ref.Ref) string {
	var out string
	for _, r := range rs {
		out += r.Familiar() + " "
	}
	return out
}
