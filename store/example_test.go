package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"

	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/ref"
	"github.com/imgx/imgx/store"
)

// Writing goes through a transaction: blobs are verified and staged as they are put,
// and become visible, tagged, only in Commit.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "store-example")
	defer os.RemoveAll(dir)
	s, err := store.Open(dir) // an OCI image layout; created if missing
	if err != nil {
		log.Fatal(err)
	}

	tx, err := s.Begin(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer tx.Discard() // a no-op after Commit
	layer, _ := tx.PutBytes(ctx, ocispec.MediaTypeImageLayer, []byte("not really a tar"))
	config, _ := tx.PutBytes(ctx, ocispec.MediaTypeImageConfig, []byte(`{"architecture":"amd64","os":"linux"}`))
	mb, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: config, Layers: []ocispec.Descriptor{layer}})
	manifest, _ := tx.PutBytes(ctx, ocispec.MediaTypeImageManifest, mb)
	tag, _ := ref.ParseNamed("example/hello:1.0")
	tx.Tag(tag, manifest)
	if err := tx.Commit(ctx); err != nil {
		log.Fatal(err)
	}

	r, err := s.Resolve(ctx, "example/hello:1.0")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.Ref, r.Desc.Digest == manifest.Digest)
	id, _ := s.ImageID(ctx, r.Desc)
	fmt.Println("image ID is the config digest:", id == config.Digest)
	// Output:
	// docker.io/example/hello:1.0 true
	// image ID is the config digest: true
}

// Check re-hashes every blob and follows every reference; a corrupted blob is a problem
// that names the image and the blob.
func ExampleStore_Check() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "store-example")
	defer os.RemoveAll(dir)
	s, _ := store.Open(dir)
	tx, _ := s.Begin(ctx)
	config, _ := tx.PutBytes(ctx, ocispec.MediaTypeImageConfig, []byte(`{"architecture":"amd64","os":"linux"}`))
	mb, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: config, Layers: []ocispec.Descriptor{}})
	manifest, _ := tx.PutBytes(ctx, ocispec.MediaTypeImageManifest, mb)
	tag, _ := ref.ParseNamed("app:1")
	tx.Tag(tag, manifest)
	if err := tx.Commit(ctx); err != nil {
		log.Fatal(err)
	}

	rep, _ := s.Check(ctx)
	fmt.Println(rep.Images, "image,", rep.Blobs, "blobs, ok:", rep.OK())
	os.WriteFile(s.BlobPath(config.Digest), []byte(`{"architecture":"arm64","os":"linux"}`), 0o644) // same size, other bytes
	rep, _ = s.Check(ctx)
	fmt.Println("ok:", rep.OK())
	for _, p := range rep.Problems { // the blob itself, then the image that uses it
		fmt.Printf("image %q, the config: %v, digest mismatch: %v\n", p.Image, p.Blob == config.Digest, errors.Is(p, store.ErrDigestMismatch))
	}
	// Output:
	// 1 image, 2 blobs, ok: true
	// ok: false
	// image "", the config: true, digest mismatch: true
	// image "app:1", the config: true, digest mismatch: true
}
