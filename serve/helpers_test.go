package serve

import (
	"archive/tar"
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http/httptest"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/image"
	"github.com/imgx/imgx/internal/storetest"
	"github.com/imgx/imgx/ref"
	"github.com/imgx/imgx/store"
)

// seeded is a store with known content.
type seeded struct {
	st       *store.Store
	app      ocispec.Descriptor // registry.example/app:1.0 and :latest
	web      ocispec.Descriptor // team/web:2 (docker.io)
	sig      ocispec.Descriptor // untagged artifact whose subject is app
	layer    ocispec.Descriptor // app's big layer
	artifact string             // sig's artifactType
}

// writeImage commits one image of the given layer sizes (random bytes, seeded) under names.
func writeImage(t testing.TB, st *store.Store, seed uint64, sizes []int, names ...string) (ocispec.Descriptor, []ocispec.Descriptor) {
	t.Helper()
	ctx := context.Background()
	tx, err := st.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Discard()
	rng := rand.New(rand.NewPCG(seed, seed))
	cfg := &v1.ConfigFile{OS: "linux", Architecture: "amd64", Created: v1.Time{Time: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}, RootFS: v1.RootFS{Type: "layers"}}
	var layers []ocispec.Descriptor
	for i, n := range sizes {
		data := make([]byte, n)
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		d, diff, err := image.WriteLayer(ctx, tx, image.Gzip, func(w io.Writer) error {
			tw := tar.NewWriter(w)
			if err := tw.WriteHeader(&tar.Header{Name: "f" + string(rune('a'+i)), Mode: 0o644, Size: int64(n), Typeflag: tar.TypeReg}); err != nil {
				return err
			}
			if _, err := tw.Write(data); err != nil {
				return err
			}
			return tw.Close()
		})
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, d)
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, v1.Hash{Algorithm: "sha256", Hex: diff.Encoded()})
		cfg.History = append(cfg.History, v1.History{Created: cfg.Created, CreatedBy: "test layer"})
	}
	md, err := image.WriteImage(ctx, tx, cfg, layers)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		r, err := ref.ParseNamed(n)
		if err != nil {
			t.Fatal(err)
		}
		tx.Tag(r, md)
	}
	if len(names) == 0 {
		tx.Tag(ref.Ref{}, md)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return md, layers
}

// writeArtifact commits an untagged artifact manifest whose subject is subj.
func writeArtifact(t testing.TB, st *store.Store, subj ocispec.Descriptor, artifactType, note string) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	tx, err := st.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Discard()
	empty, err := tx.PutBytes(ctx, ocispec.MediaTypeEmptyJSON, []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := tx.PutBytes(ctx, "application/octet-stream", []byte("signature of "+subj.Digest.String()+" "+note))
	if err != nil {
		t.Fatal(err)
	}
	s := ocispec.Descriptor{MediaType: subj.MediaType, Digest: subj.Digest, Size: subj.Size}
	m := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: artifactType,
		Config:       empty,
		Layers:       []ocispec.Descriptor{payload},
		Subject:      &s,
		Annotations:  map[string]string{"org.example.note": note},
	}
	data, _ := json.Marshal(m)
	md, err := tx.PutBytes(ctx, ocispec.MediaTypeImageManifest, data)
	if err != nil {
		t.Fatal(err)
	}
	tx.Tag(ref.Ref{}, md)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return md
}

func seed(t testing.TB) *seeded {
	t.Helper()
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := &seeded{st: st, artifact: "application/vnd.example.signature"}
	var layers []ocispec.Descriptor
	s.app, layers = writeImage(t, st, 1, []int{300 << 10, 1 << 10}, "registry.example/app:1.0", "registry.example/app:latest")
	s.layer = layers[0]
	s.web, _ = writeImage(t, st, 2, []int{4 << 10}, "team/web:2")
	s.sig = writeArtifact(t, st, s.app, s.artifact, "one")
	return s
}

// start serves st with httptest and returns its base URL.
func start(t testing.TB, st *store.Store) string {
	t.Helper()
	h, err := NewHandler(st, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(accessLog(nil, time.Minute, h))
	t.Cleanup(func() { srv.Close(); h.Close() })
	return srv.URL
}

// writeArtifactWithLayer commits an image manifest with one layer of the given bytes.
func writeArtifactWithLayer(t testing.TB, st *store.Store, mediaType string, layer []byte, name string) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	tx, err := st.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Discard()
	cfg, err := tx.PutBytes(ctx, ocispec.MediaTypeImageConfig, []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`))
	if err != nil {
		t.Fatal(err)
	}
	l, err := tx.PutBytes(ctx, mediaType, layer)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cfg, Layers: []ocispec.Descriptor{l}})
	return storetest.Commit(t, tx, name, ocispec.MediaTypeImageManifest, data)
}
