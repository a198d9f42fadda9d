package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImagesOfTheTable writes the bench images from a small tree of files and checks the
// layout: bench/app:1 with six layers (five of files, the sixth one random file of the
// right size) and ten one-layer small images, every blob named by its digest and every
// layer's diff ID the digest of its tar.
func TestImagesOfTheTable(t *testing.T) {
	src := t.TempDir()
	for i := range 300 {
		content := strings.Repeat(fmt.Sprintf("file %d ", i), 150) // about 1.2 KB each
		if err := os.WriteFile(filepath.Join(src, fmt.Sprintf("f%03d", i)), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(t.TempDir(), "layout")
	const size = 157000 // random 20000, five parts of 27400, ten small ones of 3925
	if err := run(dir, size, []string{src}, filepath.Join(t.TempDir(), "blobs")); err != nil {
		t.Fatal(err)
	}
	var index struct {
		Manifests []struct {
			Digest      string
			Annotations map[string]string
		}
	}
	readJSON(t, filepath.Join(dir, "index.json"), &index)
	if len(index.Manifests) != 11 {
		t.Fatalf("%d images, want 11", len(index.Manifests))
	}
	seen := map[string]bool{}
	for i, m := range index.Manifests {
		name := m.Annotations["org.opencontainers.image.ref.name"]
		want := "bench/app:1"
		if i > 0 {
			want = fmt.Sprintf("bench/small%d:1", i)
		}
		if name != want {
			t.Errorf("image %d is %q, want %q", i, name, want)
		}
		var man struct {
			Config struct{ Digest string }
			Layers []struct {
				Digest string
				Size   int64
			}
		}
		readJSON(t, blobPath(t, dir, m.Digest), &man)
		var cfg struct {
			RootFS struct {
				DiffIDs []string `json:"diff_ids"`
			} `json:"rootfs"`
		}
		readJSON(t, blobPath(t, dir, man.Config.Digest), &cfg)
		if wantLayers := map[bool]int{true: 6, false: 1}[i == 0]; len(man.Layers) != wantLayers || len(cfg.RootFS.DiffIDs) != wantLayers {
			t.Fatalf("%s: %d layers, %d diff IDs, want %d", name, len(man.Layers), len(cfg.RootFS.DiffIDs), wantLayers)
		}
		for j, l := range man.Layers {
			b, err := os.ReadFile(blobPath(t, dir, l.Digest))
			if err != nil || int64(len(b)) != l.Size {
				t.Fatalf("%s layer %d: %d bytes, want %d (%v)", name, j, len(b), l.Size, err)
			}
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			tarBytes, err := io.ReadAll(zr)
			if err != nil {
				t.Fatal(err)
			}
			if s := sha256.Sum256(tarBytes); "sha256:"+hex.EncodeToString(s[:]) != cfg.RootFS.DiffIDs[j] {
				t.Errorf("%s layer %d: diff ID does not match its tar", name, j)
			}
			var content int64
			tr := tar.NewReader(bytes.NewReader(tarBytes))
			for {
				h, err := tr.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("%s layer %d: %v", name, j, err)
				}
				if seen[h.Name] {
					t.Errorf("%s in two layers", h.Name)
				}
				seen[h.Name] = true
				content += h.Size
			}
			switch {
			case i == 0 && j == 5:
				if content != 20000 {
					t.Errorf("random layer holds %d bytes, want 20000", content)
				}
			case i == 0 && content < 27400, i > 0 && content < 3925:
				t.Errorf("%s layer %d holds only %d bytes", name, j, content)
			}
		}
	}
}

// TestTooFewFiles: a source that cannot fill the layers is an error, not a smaller image.
func TestTooFewFiles(t *testing.T) {
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "f"), []byte("small"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(filepath.Join(t.TempDir(), "layout"), 157000, []string{src}, ""); err == nil {
		t.Error("no error")
	}
}

func blobPath(t *testing.T, dir, digest string) string {
	t.Helper()
	hexd, ok := strings.CutPrefix(digest, "sha256:")
	if !ok {
		t.Fatalf("digest %q", digest)
	}
	p := filepath.Join(dir, "blobs", "sha256", hexd)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if s := sha256.Sum256(b); hex.EncodeToString(s[:]) != hexd {
		t.Fatalf("blob %s does not match its digest", hexd)
	}
	return p
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
