package layerdelta

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestPairLayers(t *testing.T) {
	d := func(s string) ocispec.Descriptor { return ocispec.Descriptor{Digest: digest.FromString(s)} }
	held := map[digest.Digest]bool{d("base").Digest: true, d("old-app").Digest: true}
	got := PairLayers([]ocispec.Descriptor{d("base"), d("new-app"), d("extra")}, []ocispec.Descriptor{d("base"), d("old-app")},
		func(x digest.Digest) bool { return held[x] })
	if len(got) != 2 {
		t.Fatalf("got %d pairings, want 2 (the held base layer is left out)", len(got))
	}
	if got[0].Layer.Digest != d("new-app").Digest || got[0].Base == nil || got[0].Base.Digest != d("old-app").Digest {
		t.Fatalf("new-app paired with %+v", got[0].Base)
	}
	if got[1].Base != nil || !strings.Contains(got[1].Reason, "no previous layer") {
		t.Fatalf("extra: %+v", got[1])
	}
	// The receiver lacks the previous layer: no candidate, with the reason.
	got = PairLayers([]ocispec.Descriptor{d("new-app")}, []ocispec.Descriptor{d("gone")}, func(digest.Digest) bool { return false })
	if got[0].Base != nil || !strings.Contains(got[0].Reason, "not held") {
		t.Fatalf("%+v", got[0])
	}
}

func TestDecide(t *testing.T) {
	baseTar := makeTar(t, baseFiles(), time.Unix(1700000000, 0))
	newTar := makeTar(t, changedFiles(), time.Unix(1700086400, 0))
	gz := Params{Compressor: CompGoGzip, Level: -1}
	base, target := input(compress(t, gz, baseTar)), input(compress(t, gz, newTar))
	dir := t.TempDir()

	d, err := Decide(context.Background(), target, &base, dir, 0)
	if err != nil || !d.UseRecipe || d.RecipePath == "" {
		t.Fatalf("similar layer: %+v, %v", d, err)
	}
	if fi, err := os.Stat(d.RecipePath); err != nil || fi.Size() != d.RecipeSize {
		t.Fatalf("recipe file: %v", err)
	}

	// An unrelated base: the recipe does not pay, the layer goes whole with the reason.
	other := input(compress(t, gz, makeTar(t, []file{{name: "x", data: content(555, 50000)}}, time.Unix(1, 0))))
	d, err = Decide(context.Background(), target, &other, dir, 0)
	if err != nil || d.UseRecipe || !strings.Contains(d.Reason, "threshold") {
		t.Fatalf("unrelated base: %+v, %v", d, err)
	}

	// A layer written by GNU gzip: not reproducible, shipped whole with the reason.
	cmd := exec.Command("gzip", "-n")
	cmd.Stdin = bytes.NewReader(newTar)
	gnu, err := cmd.Output()
	if err != nil {
		t.Fatalf("gzip(1): %v", err)
	}
	d, err = Decide(context.Background(), input(gnu), &base, dir, 0)
	if err != nil || d.UseRecipe || !strings.Contains(d.Reason, "not reproducible") {
		t.Fatalf("GNU gzip layer: %+v, %v", d, err)
	}
	if d, _ := Decide(context.Background(), target, nil, dir, 0); d.UseRecipe || d.Reason == "" {
		t.Fatalf("no base: %+v", d)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("%d files left in the temp dir, want only the kept recipe", len(ents))
	}
}
