package bundle_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/imgx/imgx/bundle"
	"github.com/imgx/imgx/image"
	"github.com/imgx/imgx/ref"
	"github.com/imgx/imgx/store"
	"github.com/imgx/imgx/verify"
)

// exampleStore makes a store in dir holding a one-file image per name.
func exampleStore(dir string, names ...string) *store.Store {
	ctx := context.Background()
	s, err := store.Open(dir)
	if err != nil {
		log.Fatal(err)
	}
	for _, name := range names {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		tw.WriteHeader(&tar.Header{Name: "hello", Mode: 0o644, Size: int64(len(name)), Typeflag: tar.TypeReg})
		tw.Write([]byte(name))
		tw.Close()
		tx, err := s.Begin(ctx)
		if err != nil {
			log.Fatal(err)
		}
		desc, err := image.Import(ctx, tx, &buf, image.ImportOptions{Now: func() time.Time { return time.Unix(1e9, 0) }})
		if err != nil {
			log.Fatal(err)
		}
		r, _ := ref.ParseNamed(name)
		tx.Tag(r, desc)
		if err := tx.Commit(ctx); err != nil {
			log.Fatal(err)
		}
	}
	return s
}

// A signed bundle written from one store and loaded into another: Load checks the
// signature against the policy before it stores anything, and hashes every blob.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "bundle-example")
	defer os.RemoveAll(dir)
	src := exampleStore(filepath.Join(dir, "sender"), "app:1", "web:2")

	privPEM, pubPEM, _ := verify.GenerateKeyPair([]byte("secret"))
	key, _ := verify.LoadPrivateKey(privPEM, verify.StaticPassword([]byte("secret")))
	var b bytes.Buffer
	saved, err := bundle.Save(ctx, src, []string{"app:1", "web:2"}, &b, bundle.SaveOptions{Signers: []crypto.Signer{key}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("saved %d images, %d blobs, %d signature\n", len(saved.Manifest.Images), len(saved.Manifest.Blobs), len(saved.Signers))

	pub, _ := verify.LoadPublicKey(pubPEM)
	dst, _ := store.Open(filepath.Join(dir, "receiver"))
	loaded, err := bundle.Load(ctx, dst, &b, bundle.LoadOptions{Policy: verify.Policy{Keys: []verify.PublicKey{pub}}})
	if err != nil {
		log.Fatal(err)
	}
	for _, im := range loaded.Images {
		fmt.Println("loaded", im.Name)
	}
	fmt.Println("verified:", loaded.Signature.Verified, "same bundle:", loaded.ManifestDigest == saved.ManifestDigest)
	// Output:
	// saved 2 images, 6 blobs, 1 signature
	// loaded app:1
	// loaded web:2
	// verified: true same bundle: true
}

// A delta bundle leaves out the layers an earlier bundle carried; the receiver must have
// loaded that bundle (its base) first.
func ExampleReadBase() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "bundle-example")
	defer os.RemoveAll(dir)
	src := exampleStore(filepath.Join(dir, "sender"), "app:1")

	var full bytes.Buffer
	if _, err := bundle.Save(ctx, src, []string{"app:1"}, &full, bundle.SaveOptions{}); err != nil {
		log.Fatal(err)
	}
	fullPath := filepath.Join(dir, "release-1.imgx")
	os.WriteFile(fullPath, full.Bytes(), 0o644)

	exampleStore(filepath.Join(dir, "sender"), "web:2")
	base, err := bundle.ReadBase(ctx, fullPath) // reads the head only, not the blobs
	if err != nil {
		log.Fatal(err)
	}
	var delta bytes.Buffer
	res, err := bundle.Save(ctx, src, []string{"app:1", "web:2"}, &delta, bundle.SaveOptions{Since: base})
	if err != nil {
		log.Fatal(err)
	}
	m := res.Manifest
	fmt.Printf("delta on %s: sequence %d, %d blobs carried, %d layer expected\n", m.Base.Name, m.Sequence, len(m.Blobs), len(m.Expects))
	// Output: delta on release-1.imgx: sequence 1, 5 blobs carried, 1 layer expected
}
