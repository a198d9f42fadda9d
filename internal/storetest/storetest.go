// Package storetest builds images in a store for tests of the packages above it (bundle,
// syncstate, …). It sits apart from internal/testutil, which the store's own tests use.
package storetest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/ref"
	"github.com/imgx/imgx/store"
)

// TarImage stores an image (linux/amd64) of the given uncompressed layer tars, each
// gzipped as docker does (Go's compress/gzip, default level), tags it and returns its
// manifest's descriptor.
func TarImage(t testing.TB, s *store.Store, tag string, tars ...[]byte) ocispec.Descriptor {
	t.Helper()
	var ls []Layer
	for _, raw := range tars {
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(raw)
		zw.Close()
		ls = append(ls, Layer{MediaType: ocispec.MediaTypeImageLayerGzip, Blob: gz.Bytes(), DiffID: digest.FromBytes(raw)})
	}
	return Image(t, s, tag, ls...)
}

// Layer is a layer blob as stored, with the diff ID the image's config gives it (right
// or wrong: tests of the diff ID check store wrong ones).
type Layer struct {
	MediaType string
	Blob      []byte
	DiffID    digest.Digest
}

// Image stores an image (linux/amd64) of the given layers, tags it and returns its
// manifest's descriptor.
func Image(t testing.TB, s *store.Store, tag string, layers ...Layer) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	tx, err := s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Discard()
	var cfg ocispec.Image
	cfg.OS, cfg.Architecture, cfg.RootFS.Type = "linux", "amd64", "layers"
	var lds []ocispec.Descriptor
	for _, l := range layers {
		d, err := tx.PutBytes(ctx, l.MediaType, l.Blob)
		if err != nil {
			t.Fatal(err)
		}
		lds = append(lds, d)
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.DiffID)
	}
	cb, _ := json.Marshal(cfg)
	cd, err := tx.PutBytes(ctx, ocispec.MediaTypeImageConfig, cb)
	if err != nil {
		t.Fatal(err)
	}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cd, Layers: lds}
	m.SchemaVersion = 2
	mb, _ := json.Marshal(m)
	return Commit(t, tx, tag, ocispec.MediaTypeImageManifest, mb)
}

// Index stores an image index of manifests (already in s), tags it and returns its
// descriptor.
func Index(t testing.TB, s *store.Store, tag string, manifests ...ocispec.Descriptor) ocispec.Descriptor {
	t.Helper()
	data, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: manifests})
	return Tagged(t, s, tag, ocispec.MediaTypeImageIndex, data)
}

// Tagged stores data as a blob of mediaType, tags it and returns its descriptor.
func Tagged(t testing.TB, s *store.Store, tag, mediaType string, data []byte) ocispec.Descriptor {
	t.Helper()
	tx, err := s.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Discard()
	return Commit(t, tx, tag, mediaType, data)
}

// Commit adds data as a blob of mediaType to tx (whose other blobs it names), tags it and
// commits tx; it returns the blob's descriptor.
func Commit(t testing.TB, tx *store.Tx, tag, mediaType string, data []byte) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	d, err := tx.PutBytes(ctx, mediaType, data)
	if err != nil {
		t.Fatal(err)
	}
	r, err := ref.ParseNamed(tag)
	if err != nil {
		t.Fatal(err)
	}
	tx.Tag(r, d)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return d
}
