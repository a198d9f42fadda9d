// Command benchgen writes a synthetic multi-layer image into an imgx store for the bench
// scripts: layers of half incompressible (random) and half compressible (text) files, with
// later layers deleting and replacing files of earlier ones, so flatten has real work.
package main

import (
	"archive/tar"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"os"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/image"
	"github.com/imgx/imgx/ref"
	"github.com/imgx/imgx/store"
)

func main() {
	storeDir := flag.String("store", "", "store directory")
	name := flag.String("name", "bench/big:1", "tag for the image")
	total := flag.Int64("size", 1<<30, "approximate uncompressed size in bytes")
	layers := flag.Int("layers", 5, "number of layers")
	fileSize := flag.Int("file-size", 8<<20, "size of each file")
	compress := flag.String("compress", "gzip", "layer compression: gzip, zstd or none")
	flag.Parse()
	if err := run(*storeDir, *name, *total, *layers, *fileSize, *compress); err != nil {
		fmt.Fprintln(os.Stderr, "benchgen:", err)
		os.Exit(1)
	}
}

func run(dir, name string, total int64, nlayers, fileSize int, compress string) error {
	ctx := context.Background()
	s, err := store.Open(dir)
	if err != nil {
		return err
	}
	c, err := image.ParseCompression(compress)
	if err != nil {
		return err
	}
	tx, err := s.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Discard()
	rng := rand.New(rand.NewSource(1))
	perLayer := total / int64(nlayers)
	files := int(perLayer / int64(fileSize))
	buf := make([]byte, fileSize)
	text := []byte("the quick brown fox jumps over the lazy dog 0123456789\n")
	cfg := &v1.ConfigFile{OS: "linux", Architecture: "amd64", Created: v1.Time{Time: time.Now().UTC()}, RootFS: v1.RootFS{Type: "layers"}}
	var descs []ocispec.Descriptor
	for l := 0; l < nlayers; l++ {
		desc, diffID, err := image.WriteLayer(ctx, tx, c, func(w io.Writer) error {
			tw := tar.NewWriter(w)
			dir := fmt.Sprintf("layer%d/", l)
			tw.WriteHeader(&tar.Header{Name: dir, Typeflag: tar.TypeDir, Mode: 0o755})
			if l > 0 {
				// Delete one file of the previous layer and replace another.
				prev := fmt.Sprintf("layer%d/", l-1)
				tw.WriteHeader(&tar.Header{Name: prev + ".wh.f0", Typeflag: tar.TypeReg})
				tw.WriteHeader(&tar.Header{Name: prev + "f1", Typeflag: tar.TypeReg, Mode: 0o644, Size: 6})
				tw.Write([]byte("patch\n"))
			}
			for f := 0; f < files; f++ {
				if f%2 == 0 {
					rng.Read(buf)
				} else {
					for i := 0; i < len(buf); i += len(text) {
						copy(buf[i:], text)
					}
				}
				if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("%sf%d", dir, f), Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(buf))}); err != nil {
					return err
				}
				if _, err := tw.Write(buf); err != nil {
					return err
				}
			}
			return tw.Close()
		})
		if err != nil {
			return err
		}
		descs = append(descs, desc)
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, v1.Hash{Algorithm: "sha256", Hex: diffID.Encoded()})
		cfg.History = append(cfg.History, v1.History{Created: cfg.Created, CreatedBy: fmt.Sprintf("benchgen layer %d", l)})
	}
	md, err := image.WriteImage(ctx, tx, cfg, descs)
	if err != nil {
		return err
	}
	r, err := ref.ParseNamed(name)
	if err != nil {
		return err
	}
	tx.Tag(r, md)
	return tx.Commit(ctx)
}
