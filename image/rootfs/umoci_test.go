package rootfs

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgx/imgx/internal/testserver"
)

// TestRealUmoci unpacks the crafted image with umoci, the reference OCI
// unpacker, and compares its rootfs with Unpack and with Flatten's output
// extracted by GNU tar: names, types, modes, owners, contents, link targets,
// hard link structure and file mtimes.
func TestRealUmoci(t *testing.T) {
	umoci := testserver.RequireTool(t, "umoci", "apt-get install umoci")
	// umoci unpack and Unpack keep owners and devices only as root.
	testserver.RequireCapability(t, "root", testserver.Root(), "run the tests as root")
	layers := testImage(t)
	tmp := t.TempDir()

	// OCI layout with the same layers, tagged "test".
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	for _, l := range layers {
		layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(l)), nil
		}, tarball.WithMediaType(types.OCILayer))
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, layer); err != nil {
			t.Fatal(err)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	lay := filepath.Join(tmp, "layout")
	writeLayout(t, lay, img, "test")

	bundle := filepath.Join(tmp, "bundle")
	if out, err := exec.Command(umoci, "unpack", "--image", lay+":test", bundle).CombinedOutput(); err != nil {
		t.Fatalf("umoci unpack: %v\n%s", err, out)
	}
	// Directory mtimes match too, except for directories that only appear
	// as parents: umoci stamps them with the current time, rootfs with the
	// epoch so that output is reproducible.
	opts := walkOpts{owners: true, times: true, dirTimes: true}
	want := treeOf(t, filepath.Join(bundle, "rootfs"), opts)
	t.Logf("umoci rootfs:\n%s", strings.Join(want, "\n"))

	ours := filepath.Join(tmp, "ours")
	if err := Unpack(context.Background(), openers(layers...), ours); err != nil {
		t.Fatalf("Unpack: %v", err)
	}
	implicit := []string{"dev", "run"}
	diffLines(t, "Unpack vs umoci", dropTimes(treeOf(t, ours, opts), implicit), dropTimes(want, implicit))

	// GNU tar sets a directory's mtime when it leaves the directory in
	// archive order; Flatten's order is layer order, so later entries touch
	// some directories again. Directory times are not compared here.
	opts.dirTimes = false
	want = treeOf(t, filepath.Join(bundle, "rootfs"), opts)
	tarBin, err := exec.LookPath("tar")
	if err != nil {
		t.Log("GNU tar missing: Flatten output not compared")
		return
	}
	flat, err := flatten(t, layers...)
	if err != nil {
		t.Fatalf("Flatten: %v", err)
	}
	extracted := filepath.Join(tmp, "flat")
	os.Mkdir(extracted, 0o755)
	cmd := exec.Command(tarBin, "-x", "-p", "--same-owner", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-C", extracted)
	cmd.Stdin = bytes.NewReader(flat)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tar -x: %v\n%s", err, out)
	}
	diffLines(t, "Flatten|tar -x vs umoci", treeOf(t, extracted, opts), want)
}

// writeLayout writes img as the only image of an OCI layout, tagged tag.
// (ggcr's layout package would pull golang.org/x/sync into go.mod.)
func writeLayout(t *testing.T, dir string, img v1.Image, tag string) {
	t.Helper()
	blob := func(h v1.Hash, r io.Reader) {
		p := filepath.Join(dir, "blobs", h.Algorithm, h.Hex)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := io.Copy(f, r); err != nil {
			t.Fatal(err)
		}
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		blob(d, rc)
		rc.Close()
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	blob(cfgName, bytes.NewReader(cfg))
	man, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	digest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	blob(digest, bytes.NewReader(man))
	index, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     types.OCIImageIndex,
		"manifests": []any{map[string]any{
			"mediaType":   types.OCIManifestSchema1,
			"digest":      digest.String(),
			"size":        len(man),
			"annotations": map[string]string{"org.opencontainers.image.ref.name": tag},
		}},
	})
	os.WriteFile(filepath.Join(dir, "index.json"), index, 0o644)
	os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
}

// dropTimes removes the " t=..." suffix of the named paths' lines.
func dropTimes(lines, names []string) []string {
	out := slices.Clone(lines)
	for i, l := range out {
		name, _, _ := strings.Cut(l, " ")
		if j := strings.Index(l, " t="); j >= 0 && slices.Contains(names, name) {
			out[i] = l[:j]
		}
	}
	return out
}
