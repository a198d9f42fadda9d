package archive

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/store"
)

// ent is one entry of a test tar.
type ent struct {
	name string
	body []byte
	typ  byte   // 0: regular file
	link string // link target
	size int64  // declared size if > 0 (to lie about it)
}

func mkTar(t testing.TB, ents []ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg, Linkname: e.link}
		if e.typ != 0 {
			h.Typeflag = e.typ
			h.Size = 0
		}
		if h.Typeflag == tar.TypeDir {
			h.Mode = 0o755
		}
		if e.size > 0 {
			h.Size = e.size
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(e.body); err != nil && e.size == 0 {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil && !strings.Contains(err.Error(), "missed writing") {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// layer makes an uncompressed layer tar holding the given files.
func layer(t testing.TB, files ...string) []byte {
	var ents []ent
	for _, f := range files {
		ents = append(ents, ent{name: f, body: []byte("content of " + f + "\n" + strings.Repeat(f, 50))})
	}
	return mkTar(t, ents)
}

func gz(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func zst(t testing.TB, b []byte) []byte {
	zw, _ := zstd.NewWriter(nil)
	return zw.EncodeAll(b, nil)
}

func sha(b []byte) digest.Digest { return digest.FromBytes(b) }

// testImage is an image the fixture builders write: its layers are uncompressed tars.
type testImage struct {
	tags   []string
	layers [][]byte
	arch   string
}

func (im testImage) config() []byte {
	var ids []string
	for _, l := range im.layers {
		ids = append(ids, sha(l).String())
	}
	arch := im.arch
	if arch == "" {
		arch = "amd64"
	}
	b, _ := json.Marshal(map[string]any{
		"architecture": arch, "os": "linux",
		"config": map[string]any{"Env": []string{"PATH=/bin"}, "Cmd": []string{"/bin/sh"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": ids},
	})
	return b
}

// legacyDocker writes a docker-archive as docker save did before Docker 25: <id>/layer.tar
// (a symlink for a layer already written), <id>/json, <id>/VERSION, <config>.json, and
// manifest.json and repositories at the end.
func legacyDocker(t testing.TB, ims ...testImage) []byte {
	var ents []ent
	var manifest []map[string]any
	repos := map[string]map[string]string{}
	written := map[digest.Digest]string{}
	emitted := map[string]bool{}
	for _, im := range ims {
		cfg := im.config()
		ents = append(ents, ent{name: sha(cfg).Encoded() + ".json", body: cfg})
		var paths []string
		parent := ""
		for _, l := range im.layers {
			h := sha256.Sum256([]byte(parent + sha(l).String()))
			id := hex.EncodeToString(h[:])
			parent = id
			p := id + "/layer.tar"
			paths = append(paths, p)
			if emitted[id] {
				continue
			}
			emitted[id] = true
			ents = append(ents, ent{name: id + "/", typ: tar.TypeDir}, ent{name: id + "/VERSION", body: []byte("1.0")}, ent{name: id + "/json", body: []byte(`{"id":"` + id + `"}`)})
			if prev, ok := written[sha(l)]; ok {
				ents = append(ents, ent{name: p, typ: tar.TypeSymlink, link: "../" + prev})
			} else {
				ents = append(ents, ent{name: p, body: l})
				written[sha(l)] = p
			}
		}
		manifest = append(manifest, map[string]any{"Config": sha(cfg).Encoded() + ".json", "RepoTags": im.tags, "Layers": paths})
		for _, tg := range im.tags {
			repo, tag, _ := strings.Cut(tg, ":")
			if repos[repo] == nil {
				repos[repo] = map[string]string{}
			}
			repos[repo][tag] = parent
		}
	}
	sort.SliceStable(ents, func(i, j int) bool { return ents[i].name < ents[j].name })
	mj, _ := json.Marshal(manifest)
	rj, _ := json.Marshal(repos)
	ents = append(ents, ent{name: "manifest.json", body: mj}, ent{name: "repositories", body: rj})
	return mkTar(t, ents)
}

// ociImage is an OCI manifest and config for im with layers compressed by comp.
type ociBlobs struct {
	manifest ocispec.Descriptor
	config   digest.Digest
	blobs    map[digest.Digest][]byte
}

func buildOCI(t testing.TB, im testImage, comp func(testing.TB, []byte) []byte, layerType string) ociBlobs {
	o := ociBlobs{blobs: map[digest.Digest][]byte{}}
	cfg := im.config()
	o.blobs[sha(cfg)] = cfg
	o.config = sha(cfg)
	m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: sha(cfg), Size: int64(len(cfg))}}
	for _, l := range im.layers {
		b := l
		if comp != nil {
			b = comp(t, l)
		}
		o.blobs[sha(b)] = b
		m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: layerType, Digest: sha(b), Size: int64(len(b))})
	}
	mb, _ := json.Marshal(m)
	o.blobs[sha(mb)] = mb
	o.manifest = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: sha(mb), Size: int64(len(mb))}
	return o
}

// ociArchive writes an oci-archive; with docker25 it adds manifest.json and repositories
// and uncompressed layers, as Docker 25+ does.
func ociArchive(t testing.TB, docker25 bool, ims ...testImage) []byte {
	var ix ocispec.Index
	ix.SchemaVersion = 2
	ix.MediaType = ocispec.MediaTypeImageIndex
	blobs := map[digest.Digest][]byte{}
	var manifest []map[string]any
	for _, im := range ims {
		var o ociBlobs
		if docker25 {
			o = buildOCI(t, im, nil, ocispec.MediaTypeImageLayer)
		} else {
			o = buildOCI(t, im, gz, ocispec.MediaTypeImageLayerGzip)
		}
		for d, b := range o.blobs {
			blobs[d] = b
		}
		if len(im.tags) == 0 {
			ix.Manifests = append(ix.Manifests, o.manifest)
		}
		for _, tg := range im.tags {
			d := o.manifest
			if docker25 {
				_, tag, _ := strings.Cut(tg, ":")
				d.Annotations = map[string]string{"io.containerd.image.name": "docker.io/library/" + tg, ocispec.AnnotationRefName: tag}
			} else {
				d.Annotations = map[string]string{ocispec.AnnotationRefName: tg}
			}
			ix.Manifests = append(ix.Manifests, d)
		}
		var ls []string
		for _, l := range im.layers {
			ls = append(ls, "blobs/sha256/"+sha(l).Encoded())
		}
		manifest = append(manifest, map[string]any{"Config": "blobs/sha256/" + o.config.Encoded(), "RepoTags": im.tags, "Layers": ls})
	}
	ents := []ent{{name: "blobs/", typ: tar.TypeDir}, {name: "blobs/sha256/", typ: tar.TypeDir}}
	var ds []string
	for d := range blobs {
		ds = append(ds, d.Encoded())
	}
	sort.Strings(ds)
	for _, d := range ds {
		ents = append(ents, ent{name: "blobs/sha256/" + d, body: blobs[digest.NewDigestFromEncoded(digest.SHA256, d)]})
	}
	ixb, _ := json.Marshal(ix)
	ents = append(ents, ent{name: "index.json", body: ixb})
	if docker25 {
		mj, _ := json.Marshal(manifest)
		ents = append(ents, ent{name: "manifest.json", body: mj})
	}
	ents = append(ents, ent{name: "oci-layout", body: []byte(`{"imageLayoutVersion":"1.0.0"}`)})
	return mkTar(t, ents)
}

func newStore(t testing.TB) *store.Store {
	t.Helper()
	s, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// usedStore returns a store that already holds an image (so lock files exist, as in any
// store that was used once).
func usedStore(t testing.TB) *store.Store {
	s := newStore(t)
	if _, err := Load(context.Background(), s, bytes.NewReader(ociArchive(t, false, testImage{tags: []string{"base:1"}, layers: [][]byte{layer(t, "base")}})), LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	return s
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func writeFileForce(p string, b []byte) error {
	os.Chmod(p, 0o644)
	return os.WriteFile(p, b, 0o644)
}

func newPeekReader(b []byte) *bufio.Reader { return bufio.NewReaderSize(bytes.NewReader(b), 1<<16) }

type ioReadCloser = io.ReadCloser

func nopCloser(r io.Reader) io.ReadCloser { return io.NopCloser(r) }
