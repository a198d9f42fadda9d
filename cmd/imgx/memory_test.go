package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestBundleMemory2GB saves, verifies, loads and ingests a signed bundle of a 2 GB image
// (issue 18): each imgx run must peak under 100 MB of RSS, whatever the size of what it
// streams. The image mixes what real images hold: gzip layers of incompressible and of
// compressible data, and uncompressed layers of both (which save compresses with zstd).
// It is generated as it is written, never held in memory.
func TestBundleMemory2GB(t *testing.T) {
	const limit = 100 << 20
	bin := imgxBin(t)
	dir := t.TempDir()
	env := append(os.Environ(), "IMGX_PASSWORD=memory", "IMGX_TRUST_DIR=", "XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "SSH_AUTH_SOCK=")
	// run runs imgx and returns its peak RSS. A child's ru_maxrss starts from the
	// high-water mark of the process it was started from (Linux carries it across exec),
	// and this test shares its process with the package's other tests: so imgx runs
	// under a small runner (this binary as imgx-peakrss, a fresh process), which
	// reports the figure.
	runner := filepath.Join(t.TempDir(), "imgx-peakrss")
	if err := os.Symlink(bin, runner); err != nil {
		t.Fatal(err)
	}
	run := func(what string, args ...string) int64 {
		t.Helper()
		var stderr bytes.Buffer
		cmd := exec.Command(runner, append([]string{bin}, args...)...)
		cmd.Env, cmd.Stderr = env, &stderr
		start := time.Now()
		if err := cmd.Run(); err != nil {
			t.Fatalf("imgx %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		var rss, floor int64
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		if _, err := fmt.Sscanf(lines[len(lines)-1], "peak-rss-kib %d runner-hwm-kib %d", &rss, &floor); err != nil {
			t.Fatalf("imgx %s: no peak RSS from the runner: %v\n%s", what, err, stderr.String())
		}
		rss, floor = rss<<10, floor<<10
		if floor >= limit/2 {
			t.Fatalf("the runner itself peaked at %.1f MB: imgx's figure starts there and says little", float64(floor)/(1<<20))
		}
		t.Logf("%-8s %6.1f s (CPU %5.1f s), peak RSS %5.1f MB (runner %4.1f MB)", what, time.Since(start).Seconds(),
			(cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds(), float64(rss)/(1<<20), float64(floor)/(1<<20))
		return rss
	}
	layout := filepath.Join(dir, "layout")
	start := time.Now()
	size := writeBigLayout(t, layout, "example.com/big:1")
	t.Logf("generated a %.2f GB image in %.1f s", float64(size)/1e9, time.Since(start).Seconds())

	storeA, storeB, storeC := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "c")
	key := filepath.Join(dir, "k")
	run("keygen", "keygen", "--output-prefix", key)
	rss := map[string]int64{}
	rss["import"] = run("import", "--store", storeA, "load", "-q", "-i", layout)
	if err := os.RemoveAll(layout); err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(dir, "incoming")
	if err := os.Mkdir(in, 0o755); err != nil {
		t.Fatal(err)
	}
	b := filepath.Join(in, "big.imgx")
	rss["save"] = run("save", "--store", storeA, "save", "-q", "example.com/big:1", "--sign-key", key+".key", "-o", b)
	if err := os.RemoveAll(storeA); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(b); err == nil {
		t.Logf("bundle: %.2f GB", float64(fi.Size())/1e9)
	}
	rss["verify"] = run("verify", "verify", "--key", key+".pub", b)
	rss["load"] = run("load", "--store", storeB, "load", "-q", "--key", key+".pub", "-i", b)
	if err := os.RemoveAll(storeB); err != nil {
		t.Fatal(err)
	}
	rss["ingest"] = run("ingest", "--store", storeC, "ingest", "--key", key+".pub", "--delete", in)
	if ents, err := os.ReadDir(in); err != nil || len(ents) != 0 {
		t.Fatalf("ingest left %v in the incoming directory (%v): it did not load the bundle", ents, err)
	}

	for _, what := range []string{"import", "save", "verify", "load", "ingest"} {
		if rss[what] >= limit {
			t.Errorf("imgx %s of a %.1f GB image peaked at %.1f MB of RSS, want under 100 MB", what, float64(size)/1e9, float64(rss[what])/(1<<20))
		}
	}
}

// peakRSSMain is this test binary run as imgx-peakrss BIN ARGS...: it runs BIN and,
// after BIN's own output, writes to stderr BIN's peak RSS and this runner's own
// high-water mark before it started BIN (the floor BIN's figure starts from).
func peakRSSMain() {
	floor, err := vmHWM()
	if err != nil {
		fmt.Fprintln(os.Stderr, "imgx-peakrss:", err)
		os.Exit(1)
	}
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); cmd.ProcessState == nil {
		fmt.Fprintln(os.Stderr, "imgx-peakrss:", err)
		os.Exit(1)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	fmt.Fprintf(os.Stderr, "\npeak-rss-kib %d runner-hwm-kib %d\n", ru.Maxrss, floor>>10)
	os.Exit(cmd.ProcessState.ExitCode())
}

// vmHWM is this process's peak RSS so far (VmHWM), in bytes.
func vmHWM() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmHWM in /proc/self/status")
}

// bigLayer is one layer of writeBigLayout's image.
type bigLayer struct {
	mb           int
	compressible bool
	gzip         bool
}

// writeBigLayout writes an OCI layout at dir holding one image, name, of about 2 GB of
// layer blobs, and returns their total size. Each layer is generated as it is written
// (ChaCha8 bytes, some spread over 16 byte values so that they compress about 2:1),
// hashed on the way for its digest and diff ID; the layers are made in parallel.
func writeBigLayout(t *testing.T, dir, name string) int64 {
	t.Helper()
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		t.Fatal(err)
	}
	// -short streams an eighth of it: the same shapes, bounded the same way.
	scale := 1
	if testing.Short() {
		scale = 8
	}
	shapes := []bigLayer{
		{1408, false, true}, // a gzip layer of incompressible files
		{256, true, true},   // a gzip layer of text-like files
		{384, false, false}, // save stores its frames raw (they do not shrink)
		{96, true, false},   // save compresses it
	}
	layers := make([]ocispec.Descriptor, len(shapes))
	diffIDs := make([]string, len(shapes))
	errs := make([]error, len(shapes))
	var wg sync.WaitGroup
	for i, sp := range shapes {
		sp.mb /= scale
		wg.Go(func() {
			layers[i], diffIDs[i], errs[i] = writeBigLayer(blobs, i, sp)
		})
	}
	wg.Wait()
	var total int64
	for i := range shapes {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		total += layers[i].Size
	}
	put := func(v any) ocispec.Descriptor {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		d := digest.FromBytes(b)
		if err := os.WriteFile(filepath.Join(blobs, d.Encoded()), b, 0o644); err != nil {
			t.Fatal(err)
		}
		return ocispec.Descriptor{Digest: d, Size: int64(len(b))}
	}
	cfg := put(map[string]any{"architecture": "amd64", "os": "linux", "created": "2026-01-01T00:00:00Z", "config": map[string]any{},
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs}})
	cfg.MediaType = ocispec.MediaTypeImageConfig
	man := put(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cfg, Layers: layers})
	man.MediaType = ocispec.MediaTypeImageManifest
	man.Annotations = map[string]string{ocispec.AnnotationRefName: name}
	ix, err := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{man}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.json"), ix, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return total
}

// writeBigLayer writes layer i of writeBigLayout into blobs and returns its descriptor
// and diff ID.
func writeBigLayer(blobs string, i int, sp bigLayer) (ocispec.Descriptor, string, error) {
	tmp := filepath.Join(blobs, fmt.Sprintf("tmp%d", i))
	f, err := os.Create(tmp)
	if err != nil {
		return ocispec.Descriptor{}, "", err
	}
	defer f.Close()
	bh := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(f, bh), 1<<20)
	var w io.Writer = bw
	var zw *gzip.Writer
	if sp.gzip {
		level := gzip.BestSpeed
		if !sp.compressible {
			level = gzip.NoCompression // what gzip makes of random data anyway, at copy speed
		}
		if zw, err = gzip.NewWriterLevel(bw, level); err != nil {
			return ocispec.Descriptor{}, "", err
		}
		w = zw
	}
	dh := sha256.New()
	tw := tar.NewWriter(io.MultiWriter(w, dh))
	rng := rand.NewChaCha8([32]byte{byte(i), 'i', 'm', 'g', 'x'})
	const fileSize = 32 << 20
	for n := 0; n < sp.mb<<20; n += fileSize {
		if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("data/f%04d", n/fileSize), Mode: 0o644, Size: fileSize, Typeflag: tar.TypeReg,
			ModTime: time.Unix(1700000000, 0)}); err != nil {
			return ocispec.Descriptor{}, "", err
		}
		if err := fillFile(tw, rng, fileSize, sp.compressible); err != nil {
			return ocispec.Descriptor{}, "", err
		}
	}
	if err := tw.Close(); err != nil {
		return ocispec.Descriptor{}, "", err
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return ocispec.Descriptor{}, "", err
		}
	}
	if err := bw.Flush(); err != nil {
		return ocispec.Descriptor{}, "", err
	}
	fi, err := f.Stat()
	if err != nil {
		return ocispec.Descriptor{}, "", err
	}
	d := digest.NewDigestFromBytes(digest.SHA256, bh.Sum(nil))
	if err := os.Rename(tmp, filepath.Join(blobs, d.Encoded())); err != nil {
		return ocispec.Descriptor{}, "", err
	}
	mt := ocispec.MediaTypeImageLayer
	if sp.gzip {
		mt = ocispec.MediaTypeImageLayerGzip
	}
	return ocispec.Descriptor{MediaType: mt, Digest: d, Size: fi.Size()}, digest.NewDigestFromBytes(digest.SHA256, dh.Sum(nil)).String(), nil
}

// fillFile writes n generated bytes to w: ChaCha8 output, or with compressible, that
// output spread over 16 letters (4 bits of entropy a byte).
func fillFile(w io.Writer, rng *rand.ChaCha8, n int, compressible bool) error {
	buf := make([]byte, 1<<20)
	const letters = "etaoinshrdlucmfw"
	for n > 0 {
		k := min(n, len(buf))
		b := buf[:k]
		_, _ = rng.Read(b)
		if compressible {
			for i, c := range b {
				b[i] = letters[c&15]
			}
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
		n -= k
	}
	return nil
}
