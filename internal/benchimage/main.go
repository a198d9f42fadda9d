// Command benchimage writes the images of the benchmark table (scripts/bench.sh) as one OCI
// image layout, in the shape of issue 18's image: bench/app:1 has five gzip layers of real
// files (this machine's /usr, as tar entries) and one gzip layer of incompressible random
// bytes (200 of every 1570 MB), and bench/small1:1 … bench/small10:1 have one gzip layer of
// further /usr files each (SIZE/40 MB), the ingest row's bundles.
//
//	benchimage -o DIR -size MB [-src /usr/share,/usr/bin,/usr/lib] [-blobs FILE]
//
// Layers are compressed at gzip's fastest level, in parallel, and hashed as they are
// written (digest and diff ID in one pass). -blobs FILE lists bench/app:1's blob digests
// (manifest, config, layers), one hex digest a line, for the floor of save.
package main

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
)

func main() {
	out := flag.String("o", "", "the OCI layout directory to write")
	sizeMB := flag.Int64("size", 1570, "MB (10^6 bytes) of bench/app:1's layer content")
	src := flag.String("src", "/usr/share,/usr/bin,/usr/lib", "comma-separated directories whose files fill the layers, in this order")
	blobs := flag.String("blobs", "", "write bench/app:1's blob digests to this file")
	flag.Parse()
	if *out == "" || *sizeMB < 20 {
		fmt.Fprintln(os.Stderr, "usage: benchimage -o DIR -size MB (at least 20) [-src DIRS] [-blobs FILE]")
		os.Exit(2)
	}
	if err := run(*out, *sizeMB*1000000, strings.Split(*src, ","), *blobs); err != nil {
		fmt.Fprintln(os.Stderr, "benchimage:", err)
		os.Exit(1)
	}
}

// layerSpec is one layer to write: real files, or random bytes when files is nil.
type layerSpec struct {
	files  []string // absolute paths
	root   string   // for each file's name in the tar: its path relative to root
	random int64
}

type layerOut struct {
	digest, diffID string
	size           int64
}

func run(dir string, size int64, srcs []string, blobsFile string) error {
	random := size * 200 / 1570
	part := (size - random) / 5
	small := size / 40
	// The files, in walk order, cut into five layers of at least part bytes and ten of at
	// least small bytes.
	var specs []layerSpec
	cur := layerSpec{root: "/"}
	var curBytes int64
	want := func() int64 {
		if len(specs) < 5 {
			return part
		}
		return small
	}
	errEnough := errors.New("enough")
	for _, s := range srcs {
		err := filepath.WalkDir(s, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil // unreadable parts of /usr are left out
			}
			if !d.Type().IsRegular() {
				return nil
			}
			info, err := d.Info()
			if err != nil || info.Size() == 0 {
				return nil
			}
			if f, err := os.Open(p); err != nil {
				return nil
			} else {
				f.Close()
			}
			cur.files = append(cur.files, p)
			curBytes += info.Size()
			if curBytes >= want() {
				specs = append(specs, cur)
				cur, curBytes = layerSpec{root: "/"}, 0
				if len(specs) == 15 {
					return errEnough
				}
			}
			return nil
		})
		if errors.Is(err, errEnough) {
			break
		}
		if err != nil {
			return fmt.Errorf("walking %s: %w", s, err)
		}
	}
	if len(specs) < 15 {
		return fmt.Errorf("%s hold too few bytes for %d MB of layers", strings.Join(srcs, ", "), (5*part+10*small)/1000000)
	}
	// bench/app:1's random layer goes sixth; the small images' layers follow.
	specs = append(specs[:5], append([]layerSpec{{random: random}}, specs[5:]...)...)

	blobDir := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobDir, 0o755); err != nil {
		return err
	}
	outs := make([]layerOut, len(specs))
	errs := make([]error, len(specs))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, sp := range specs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			outs[i], errs[i] = writeLayer(blobDir, fmt.Sprintf("tmp-%d", i), sp, uint64(i))
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}

	type desc = map[string]any
	var index []desc
	var appBlobs []string
	image := func(name string, layers []layerOut) error {
		var ls []desc
		var diffs []string
		for _, l := range layers {
			ls = append(ls, desc{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + l.digest, "size": l.size})
			diffs = append(diffs, "sha256:"+l.diffID)
		}
		cfg, _ := json.Marshal(desc{"architecture": "amd64", "os": "linux", "config": desc{"Cmd": []string{"/bin/sh"}},
			"rootfs": desc{"type": "layers", "diff_ids": diffs}})
		cd, err := put(blobDir, cfg)
		if err != nil {
			return err
		}
		man, _ := json.Marshal(desc{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
			"config": desc{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + cd, "size": len(cfg)}, "layers": ls})
		md, err := put(blobDir, man)
		if err != nil {
			return err
		}
		index = append(index, desc{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + md, "size": len(man),
			"annotations": map[string]string{"org.opencontainers.image.ref.name": name}})
		if name == "bench/app:1" {
			appBlobs = append(appBlobs, md, cd)
			for _, l := range layers {
				appBlobs = append(appBlobs, l.digest)
			}
		}
		return nil
	}
	if err := image("bench/app:1", outs[:6]); err != nil {
		return err
	}
	for i := range 10 {
		if err := image(fmt.Sprintf("bench/small%d:1", i+1), outs[6+i:7+i]); err != nil {
			return err
		}
	}
	ix, _ := json.Marshal(desc{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": index})
	if err := os.WriteFile(filepath.Join(dir, "index.json"), ix, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		return err
	}
	if blobsFile != "" {
		return os.WriteFile(blobsFile, []byte(strings.Join(appBlobs, "\n")+"\n"), 0o644)
	}
	return nil
}

// put writes b as a blob and returns its hex digest.
func put(blobDir string, b []byte) (string, error) {
	s := sha256.Sum256(b)
	d := hex.EncodeToString(s[:])
	return d, os.WriteFile(filepath.Join(blobDir, d), b, 0o644)
}

// hashWriter hashes and counts what passes through to w.
type hashWriter struct {
	h hash.Hash
	w io.Writer
	n int64
}

func (x *hashWriter) Write(p []byte) (int, error) {
	x.h.Write(p)
	x.n += int64(len(p))
	return x.w.Write(p)
}

// writeLayer writes one gzip layer as a blob, hashing the compressed bytes (its digest)
// and the tar (its diff ID) on the way.
func writeLayer(blobDir, tmpName string, sp layerSpec, seed uint64) (layerOut, error) {
	tmp := filepath.Join(blobDir, tmpName)
	f, err := os.Create(tmp)
	if err != nil {
		return layerOut{}, err
	}
	defer f.Close()
	comp := &hashWriter{h: sha256.New(), w: f}
	zw, err := gzip.NewWriterLevel(comp, gzip.BestSpeed)
	if err != nil {
		return layerOut{}, err
	}
	un := &hashWriter{h: sha256.New(), w: zw}
	tw := tar.NewWriter(un)
	if sp.files == nil {
		if err := tw.WriteHeader(&tar.Header{Name: "random.bin", Mode: 0o644, Size: sp.random, Typeflag: tar.TypeReg}); err != nil {
			return layerOut{}, err
		}
		var key [32]byte
		key[0] = byte(seed)
		if _, err := io.CopyN(tw, rand.NewChaCha8(key), sp.random); err != nil {
			return layerOut{}, fmt.Errorf("random layer: %w", err)
		}
	}
	for _, p := range sp.files {
		if err := addFile(tw, sp.root, p); err != nil {
			return layerOut{}, err
		}
	}
	if err := tw.Close(); err != nil {
		return layerOut{}, err
	}
	if err := zw.Close(); err != nil {
		return layerOut{}, err
	}
	if err := f.Close(); err != nil {
		return layerOut{}, err
	}
	d := hex.EncodeToString(comp.h.Sum(nil))
	if err := os.Rename(tmp, filepath.Join(blobDir, d)); err != nil {
		return layerOut{}, err
	}
	return layerOut{digest: d, diffID: hex.EncodeToString(un.h.Sum(nil)), size: comp.n}, nil
}

// addFile writes the regular file p as a tar entry named by its path below root.
func addFile(tw *tar.Writer, root, p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	hdr, err := tar.FileInfoHeader(info, "")
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	rel, err := filepath.Rel(root, p)
	if err != nil {
		return err
	}
	hdr.Name = filepath.ToSlash(rel)
	hdr.Uname, hdr.Gname = "", ""
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	if _, err := io.CopyN(tw, f, hdr.Size); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	return nil
}
