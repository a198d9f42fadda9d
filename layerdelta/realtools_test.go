package layerdelta

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	decomp "github.com/imgx/imgx/internal/compress"
	"github.com/imgx/imgx/internal/testserver"
)

// Layers written by the installed umoci (pgzip, 256 KiB blocks) and skopeo (pgzip and
// klauspost zstd through containers/image) are reproduced exactly. Debian 12 builds both
// with klauspost/compress v1.15.12 and pgzip v1.2.5, whose output differs from today's
// library: before the carried copies (internal/kc11512) none of these layers was
// reproducible.
func TestReproduceRealTools(t *testing.T) {
	umoci := testserver.RequireTool(t, "umoci", "apt-get install umoci")
	skopeo := testserver.RequireTool(t, "skopeo", "apt-get install skopeo")
	dir := t.TempDir()
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
		}
	}
	l := filepath.Join(dir, "umoci")
	run(umoci, "init", "--layout", l)
	run(umoci, "new", "--image", l+":t")
	// Two layers of files that compress like real ones (text), a few hundred KiB each;
	// each repack adds a layer to the image the bundle was unpacked from.
	for layer := range 2 {
		bundle := filepath.Join(dir, fmt.Sprintf("bundle%d", layer))
		run(umoci, "unpack", "--rootless", "--image", l+":t", bundle)
		d := filepath.Join(bundle, "rootfs", fmt.Sprintf("layer%d", layer))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for i := range 40 {
			var b bytes.Buffer
			for j := range 400 {
				fmt.Fprintf(&b, "layer %d file %d line %d: %s\n", layer, i, j, strings.Repeat(fmt.Sprint(i*j%97), j%13))
			}
			if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%02d.txt", i)), b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		run(umoci, "repack", "--image", l+":t", bundle)
	}
	zl, gl := filepath.Join(dir, "skopeo-zstd"), filepath.Join(dir, "skopeo-gzip")
	run(skopeo, "copy", "-q", "--dest-compress-format", "zstd", "oci:"+l+":t", "oci:"+zl+":t")
	run(skopeo, "copy", "-q", "--dest-compress-format", "gzip", "--dest-compress", "oci:"+zl+":t", "oci:"+gl+":t")

	for _, c := range []struct {
		layout string
		want   string // the compressor that must reproduce every layer
	}{
		{l, CompPgzip125},
		{zl, CompKlauspostZst115},
		{gl, CompPgzip125},
	} {
		n := 0
		for _, blob := range layerBlobs(t, c.layout) {
			n++
			p, err := Reproduce(bytes.NewReader(blob), int64(len(blob)), func() (io.ReadCloser, error) {
				rc, _, err := decomp.NewReader(bytes.NewReader(blob), decomp.Options{})
				return rc, err
			})
			if err != nil {
				t.Errorf("%s: layer %d: %v", filepath.Base(c.layout), n, err)
				continue
			}
			if p.Compressor != c.want {
				t.Errorf("%s: layer %d reproduced by %s, want %s", filepath.Base(c.layout), n, p, c.want)
			}
		}
		if n < 2 {
			t.Errorf("%s: %d layers, want 2", filepath.Base(c.layout), n)
		}
	}
}

// layerBlobs returns the compressed layer blobs of an OCI layout (gzip or zstd blobs).
func layerBlobs(t *testing.T, layout string) [][]byte {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(layout, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(layout, "blobs", "sha256", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 4 && (b[0] == 0x1f && b[1] == 0x8b || bytes.Equal(b[:4], []byte{0x28, 0xb5, 0x2f, 0xfd})) {
			out = append(out, b)
		}
	}
	return out
}
