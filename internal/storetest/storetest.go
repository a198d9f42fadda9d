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
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/ref"
	"github.com/imgx/imgx/store"
)

// TarImage stores an image (linux/amd64) of the given uncompressed layer tars, each
// gzipped as docker does (Go's compress/gzip, default level), tags it and returns its
// manifest's descriptor.
func TarImage(t testing.TB, s *store.Store, tag string, tars ...[]byte) ocispec.Descriptor {
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
	for _, raw := range tars {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, digest.FromBytes(raw))
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(raw)
		zw.Close()
		d, err := tx.PutBytes(ctx, ocispec.MediaTypeImageLayerGzip, gz.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		lds = append(lds, d)
	}
	cb, _ := json.Marshal(cfg)
	cd, err := tx.PutBytes(ctx, ocispec.MediaTypeImageConfig, cb)
	if err != nil {
		t.Fatal(err)
	}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cd, Layers: lds}
	m.SchemaVersion = 2
	mb, _ := json.Marshal(m)
	md, err := tx.PutBytes(ctx, ocispec.MediaTypeImageManifest, mb)
	if err != nil {
		t.Fatal(err)
	}
	r, err := ref.ParseNamed(tag)
	if err != nil {
		t.Fatal(err)
	}
	tx.Tag(r, md)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return md
}
