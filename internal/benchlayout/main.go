// Command benchlayout writes an OCI image layout of random (incompressible) gzip level-0
// layers for the bench scripts: usage benchlayout DIR SIZE_MB LAYERS. No tool spends time
// compressing it, and every tool reads the same bytes.
package main

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
)

type hw struct {
	h hash.Hash
	w io.Writer
	n int64
}

func (x *hw) Write(p []byte) (int, error) { x.h.Write(p); x.n += int64(len(p)); return x.w.Write(p) }

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func main() {
	dir := os.Args[1]
	sizeMB, _ := strconv.Atoi(os.Args[2])
	layers, _ := strconv.Atoi(os.Args[3])
	blobs := filepath.Join(dir, "blobs", "sha256")
	must(os.MkdirAll(blobs, 0o755))
	put := func(b []byte) (string, int) {
		s := sha256.Sum256(b)
		d := hex.EncodeToString(s[:])
		must(os.WriteFile(filepath.Join(blobs, d), b, 0o644))
		return d, len(b)
	}
	rng := rand.NewChaCha8([32]byte{1})
	buf := make([]byte, 1<<20)
	var descs []map[string]any
	var diffIDs []string
	for l := 0; l < layers; l++ {
		tmp := filepath.Join(blobs, "tmp")
		f, err := os.Create(tmp)
		must(err)
		comp := &hw{h: sha256.New(), w: f}
		zw, _ := gzip.NewWriterLevel(comp, gzip.NoCompression)
		un := &hw{h: sha256.New(), w: zw}
		tw := tar.NewWriter(un)
		n := sizeMB / layers
		if l < sizeMB%layers {
			n++
		}
		for i := 0; i < n; i++ {
			must(tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("layer%d/file%04d", l, i), Mode: 0o644, Size: int64(len(buf)), Typeflag: tar.TypeReg}))
			rng.Read(buf)
			_, err := tw.Write(buf)
			must(err)
		}
		must(tw.Close())
		must(zw.Close())
		must(f.Close())
		d := hex.EncodeToString(comp.h.Sum(nil))
		must(os.Rename(tmp, filepath.Join(blobs, d)))
		descs = append(descs, map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + d, "size": comp.n})
		diffIDs = append(diffIDs, "sha256:"+hex.EncodeToString(un.h.Sum(nil)))
	}
	cfg, _ := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux", "config": map[string]any{"Cmd": []string{"/bin/sh"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs}})
	cd, cn := put(cfg)
	man, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + cd, "size": cn}, "layers": descs})
	md, mn := put(man)
	ix, _ := json.Marshal(map[string]any{"schemaVersion": 2, "manifests": []map[string]any{{"mediaType": "application/vnd.oci.image.manifest.v1+json",
		"digest": "sha256:" + md, "size": mn, "annotations": map[string]string{"org.opencontainers.image.ref.name": "bench/big:1"}}}})
	must(os.WriteFile(filepath.Join(dir, "index.json"), ix, 0o644))
	must(os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644))
}
