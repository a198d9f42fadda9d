package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/internal/storetest"
	"github.com/imgx/imgx/store"
)

func resolveAll(t *testing.T, s *store.Store, names ...string) []store.Resolved {
	t.Helper()
	var out []store.Resolved
	for _, n := range names {
		r, err := s.Resolve(context.Background(), n)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// tarNames lists the entries of an archive and fails on a duplicate.
func tarNames(t *testing.T, data []byte) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := out[h.Name]; dup {
			t.Fatalf("entry %s written twice", h.Name)
		}
		b, _ := io.ReadAll(tr)
		out[h.Name] = b
	}
}

func TestSaveRoundTrip(t *testing.T) {
	ctx := context.Background()
	src := newStore(t)
	un := untagged(t)
	if _, err := Load(ctx, src, bytes.NewReader(legacyDocker(t, appImage(t), webImage(t), un)), LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	unID := sha(un.config()).String()
	refs := []string{"app:1", "app:latest", "web:2", unID}
	for _, f := range []Format{FormatDockerArchive, FormatOCIArchive} {
		t.Run(string(f), func(t *testing.T) {
			var buf bytes.Buffer
			res, err := Save(ctx, src, &buf, resolveAll(t, src, refs...), SaveOptions{Format: f})
			if err != nil {
				t.Fatal(err)
			}
			// bin/sh is shared by all three images and written once: 3 configs, 3
			// manifests, 4 distinct layers.
			if res.Blobs != 10 || res.Images != 4 || res.Bytes != int64(buf.Len()) {
				t.Errorf("result %+v (archive %d bytes)", res, buf.Len())
			}
			ents := tarNames(t, buf.Bytes())
			if f == FormatDockerArchive {
				var m []dockerEntry
				if err := json.Unmarshal(ents["manifest.json"], &m); err != nil {
					t.Fatal(err)
				}
				if len(m) != 3 || len(m[0].RepoTags) != 2 || m[0].RepoTags[1] != "app:latest" || len(m[2].RepoTags) != 0 {
					t.Errorf("manifest.json %s", ents["manifest.json"])
				}
			} else if _, ok := ents["manifest.json"]; ok {
				t.Error("oci-archive has manifest.json")
			}
			dst := newStore(t)
			lres, err := Load(ctx, dst, bytes.NewReader(buf.Bytes()), LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(lres.Images) != 4 {
				t.Errorf("loaded %v", names(lres))
			}
			checkStore(t, dst)
			for _, r := range refs {
				a := resolveAll(t, src, r)[0]
				b := resolveAll(t, dst, r)[0]
				if a.Desc.Digest != b.Desc.Digest {
					t.Errorf("%s: manifest %s became %s", r, a.Desc.Digest, b.Desc.Digest)
				}
				ida, _ := src.ImageID(ctx, a.Desc)
				idb, _ := dst.ImageID(ctx, b.Desc)
				if ida != idb {
					t.Errorf("%s: image ID %s became %s", r, ida, idb)
				}
			}
		})
	}
}

func TestSaveDeterministic(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if _, err := Load(ctx, s, bytes.NewReader(ociArchive(t, false, appImage(t))), LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	for _, w := range []*bytes.Buffer{&a, &b} {
		if _, err := Save(ctx, s, w, resolveAll(t, s, "app:1"), SaveOptions{Format: FormatOCIArchive}); err != nil {
			t.Fatal(err)
		}
	}
	if digest.FromBytes(a.Bytes()) != digest.FromBytes(b.Bytes()) {
		t.Error("two saves of one image differ")
	}
}

func TestSaveCorruptStore(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	l := layer(t, "x")
	if _, err := Load(ctx, s, bytes.NewReader(ociArchive(t, true, testImage{tags: []string{"x:1"}, layers: [][]byte{l}})), LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	bad := append([]byte{}, l...)
	bad[700] ^= 1
	if err := writeFileForce(s.BlobPath(sha(l)), bad); err != nil {
		t.Fatal(err)
	}
	_, err := Save(ctx, s, io.Discard, resolveAll(t, s, "x:1"), SaveOptions{Format: FormatDockerArchive})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte(sha(l).String())) {
		t.Fatalf("save of a corrupted blob: %v", err)
	}
}

func TestSaveBadFormat(t *testing.T) {
	s := newStore(t)
	if _, err := Save(context.Background(), s, io.Discard, nil, SaveOptions{Format: "zip"}); err == nil {
		t.Fatal("unknown format accepted")
	}
}

// A tagged artifact (a manifest whose config is not an image config) has no place in a
// docker-archive: the refusal says so and names the way out, whatever else its config
// holds.
func TestSaveDockerArchiveRefusesArtifact(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	tx, err := s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Discard()
	cd, err := tx.PutBytes(ctx, "application/vnd.example.chart.config.v1+json", []byte(`{"name":"chart"}`))
	if err != nil {
		t.Fatal(err)
	}
	ld, err := tx.PutBytes(ctx, "application/vnd.example.chart.content.v1.tar+gzip", []byte("chart bytes"))
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cd, Layers: []ocispec.Descriptor{ld}})
	storetest.Commit(t, tx, "example/chart:1", ocispec.MediaTypeImageManifest, mb)
	_, err = Save(ctx, s, io.Discard, resolveAll(t, s, "example/chart:1"), SaveOptions{Format: FormatDockerArchive})
	if err == nil || !strings.Contains(err.Error(), "docker-archive cannot hold it (use oci-archive)") {
		t.Fatalf("docker-archive of an artifact: %v", err)
	}
	if _, err := Save(ctx, s, io.Discard, resolveAll(t, s, "example/chart:1"), SaveOptions{Format: FormatOCIArchive}); err != nil {
		t.Fatalf("oci-archive of an artifact: %v", err)
	}
}
