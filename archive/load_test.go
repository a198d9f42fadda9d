package archive

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/ulikunitz/xz"

	"github.com/imgx/imgx/internal/compress"
	"github.com/imgx/imgx/internal/testserver"
	"github.com/imgx/imgx/store"
)

var (
	appImage = func(t testing.TB) testImage {
		return testImage{tags: []string{"app:1", "app:latest"}, layers: [][]byte{layer(t, "bin/sh"), layer(t, "app/main")}}
	}
	webImage = func(t testing.TB) testImage {
		return testImage{tags: []string{"web:2"}, layers: [][]byte{layer(t, "bin/sh"), layer(t, "srv/index.html")}}
	}
	untagged = func(t testing.TB) testImage {
		return testImage{layers: [][]byte{layer(t, "bin/sh"), layer(t, "empty"), layer(t, "bin/sh")}}
	}
)

func xzc(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	w, err := xz.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func bz2(t testing.TB, b []byte) []byte {
	cmd := exec.Command(testserver.HostTool(t, "bzip2", "apt-get install bzip2"), "-c")
	cmd.Stdin = bytes.NewReader(b)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func names(res *Result) []string {
	var out []string
	for _, l := range res.Images {
		if l.Name != "" {
			out = append(out, l.Name)
		} else {
			out = append(out, "ID "+l.ID.String())
		}
	}
	sort.Strings(out)
	return out
}

func TestLoadFormats(t *testing.T) {
	ctx := context.Background()
	app, web, un := appImage(t), webImage(t), untagged(t)
	unID := "ID " + sha(un.config()).String()
	all := []string{"app:1", "app:latest", "web:2", unID}
	sort.Strings(all)
	cases := []struct {
		name   string
		data   []byte
		format Format
		want   []string
	}{
		{"legacy docker save", legacyDocker(t, app, web, un), FormatDockerArchive, all},
		{"docker 25", ociArchive(t, true, app, web, un), FormatDockerArchive, all},
		{"oci-archive", ociArchive(t, false, app, web, un), FormatOCIArchive, all},
	}
	comps := []struct {
		kind compress.Kind
		fn   func(testing.TB, []byte) []byte
	}{{compress.None, nil}, {compress.Gzip, gz}, {compress.Zstd, zst}, {compress.Xz, xzc}, {compress.Bzip2, bz2}}
	for _, c := range cases {
		for _, comp := range comps {
			t.Run(c.name+"/"+string(comp.kind), func(t *testing.T) {
				data := c.data
				if comp.fn != nil {
					data = comp.fn(t, data)
				}
				s := newStore(t)
				// A pipe: no seeking, the metadata of a legacy archive arrives last.
				pr, pw := io.Pipe()
				go func() { pw.CloseWithError(copyAll(pw, data)) }()
				res, err := Load(ctx, s, pr, LoadOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if res.Format != c.format || res.Compression != comp.kind {
					t.Errorf("format %s/%s, want %s/%s", res.Format, res.Compression, c.format, comp.kind)
				}
				if got := names(res); strings.Join(got, ",") != strings.Join(c.want, ",") {
					t.Errorf("loaded %v, want %v", got, c.want)
				}
				checkStore(t, s)
				// The image ID docker showed (the config digest) is kept.
				r, err := s.Resolve(ctx, "app:1")
				if err != nil {
					t.Fatal(err)
				}
				if id, _ := s.ImageID(ctx, r.Desc); id != sha(app.config()) {
					t.Errorf("app:1 image ID %s, want %s", id, sha(app.config()))
				}
			})
		}
	}
}

func copyAll(w io.Writer, b []byte) error {
	for len(b) > 0 {
		n := min(len(b), 4096)
		if _, err := w.Write(b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// checkStore asserts the store is sound and holds no staged leftovers.
func checkStore(t *testing.T, s *store.Store) {
	t.Helper()
	rep, err := s.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("store check: %v", rep.Problems)
	}
	if rep.Leftovers != 0 || rep.Unreachable != 0 {
		t.Errorf("store has %d leftovers and %d unreachable blobs after load", rep.Leftovers, rep.Unreachable)
	}
}

func TestLoadTwiceWritesNothing(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	data := ociArchive(t, false, appImage(t))
	res, err := Load(ctx, s, bytes.NewReader(data), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.BytesWritten == 0 {
		t.Fatal("first load wrote nothing")
	}
	res, err = Load(ctx, s, bytes.NewReader(data), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.BytesWritten != 0 {
		t.Errorf("second load wrote %d bytes, want 0", res.BytesWritten)
	}
}

func TestLoadDir(t *testing.T) {
	ctx := context.Background()
	for _, docker25 := range []bool{false, true} {
		dir := t.TempDir()
		untar(t, ociArchive(t, docker25, appImage(t), untagged(t)), dir)
		// A blob no image uses must not be read into the store.
		os.WriteFile(filepath.Join(dir, "blobs/sha256", sha([]byte("stray")).Encoded()), []byte("stray"), 0o644)
		s := newStore(t)
		res, err := LoadPath(ctx, s, dir, nil, LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want := FormatOCILayout
		if docker25 {
			want = FormatDockerDir
		}
		if res.Format != want || len(res.Images) != 3 {
			t.Errorf("format %s, %d images: %v", res.Format, len(res.Images), names(res))
		}
		checkStore(t, s)
		if s.Has(sha([]byte("stray"))) {
			t.Error("unreferenced blob was loaded")
		}
	}
	// An unpacked legacy docker save.
	dir := t.TempDir()
	untar(t, legacyDocker(t, appImage(t)), dir)
	s := newStore(t)
	res, err := LoadDir(ctx, s, dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Format != FormatDockerDir || len(res.Images) != 2 {
		t.Errorf("format %s, images %v", res.Format, names(res))
	}
}

// untar extracts a test archive (trusted, made by the helpers) into dir.
func untar(t *testing.T, data []byte, dir string) {
	t.Helper()
	cmd := exec.Command("tar", "-x", "-C", dir)
	cmd.Stdin = bytes.NewReader(data)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tar: %v: %s", err, out)
	}
}

func TestLoadLegacyCompressedLayers(t *testing.T) {
	// docker load accepts gzip-compressed layer.tar files; the diff_id is then checked on
	// the uncompressed stream and the layer kept compressed.
	ctx := context.Background()
	l := layer(t, "a")
	im := testImage{tags: []string{"c:1"}, layers: [][]byte{l}}
	cfg := im.config()
	gl := gz(t, l)
	data := mkTar(t, []ent{
		{name: sha(cfg).Encoded() + ".json", body: cfg},
		{name: "x/layer.tar", body: gl},
		{name: "manifest.json", body: []byte(`[{"Config":"` + sha(cfg).Encoded() + `.json","RepoTags":["c:1"],"Layers":["x/layer.tar"]}]`)},
	})
	s := newStore(t)
	if _, err := Load(ctx, s, bytes.NewReader(data), LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	r, _ := s.Resolve(ctx, "c:1")
	mb, _ := s.ReadBlob(ctx, r.Desc)
	if !bytes.Contains(mb, []byte(ocispec.MediaTypeImageLayerGzip)) || !bytes.Contains(mb, []byte(sha(gl).String())) {
		t.Errorf("manifest %s does not keep the gzip layer", mb)
	}
}

func TestLoadPartialIndex(t *testing.T) {
	// A multi-platform index with only one platform's blobs present (as Docker 25 saves
	// an image pulled for one platform) loads that platform.
	ctx := context.Background()
	amd := buildOCI(t, testImage{layers: [][]byte{layer(t, "amd")}}, gz, ocispec.MediaTypeImageLayerGzip)
	arm := buildOCI(t, testImage{layers: [][]byte{layer(t, "arm")}, arch: "arm64"}, gz, ocispec.MediaTypeImageLayerGzip)
	amd.manifest.Platform = &ocispec.Platform{OS: "linux", Architecture: "amd64"}
	arm.manifest.Platform = &ocispec.Platform{OS: "linux", Architecture: "arm64"}
	idx := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` + jsonOf(arm.manifest) + `,` + jsonOf(amd.manifest) + `]}`)
	top := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: sha(idx), Size: int64(len(idx)), Annotations: map[string]string{ocispec.AnnotationRefName: "multi:1"}}
	ents := []ent{{name: "oci-layout", body: []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{name: "index.json", body: []byte(`{"schemaVersion":2,"manifests":[` + jsonOf(top) + `]}`)},
		{name: blobName(sha(idx)), body: idx}}
	for d, b := range amd.blobs {
		ents = append(ents, ent{name: blobName(d), body: b})
	}
	s := newStore(t)
	res, err := Load(ctx, s, bytes.NewReader(mkTar(t, ents)), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Images) != 1 || res.Images[0].Name != "multi:1" || res.Images[0].Digest != amd.manifest.Digest || len(res.Notes) != 1 {
		t.Errorf("got %+v notes %v", res.Images, res.Notes)
	}
	// The incomplete index itself never reaches blobs/, and commit drops it from staging.
	if rep, _ := s.Check(ctx); !rep.OK() || rep.Unreachable != 0 || rep.Leftovers != 0 {
		t.Errorf("check: %+v", rep)
	}
}

func jsonOf(d ocispec.Descriptor) string {
	b, _ := jsonMarshal(d)
	return string(b)
}

func TestPeek(t *testing.T) {
	for _, c := range []struct {
		data []byte
		want Format
		comp compress.Kind
	}{
		{legacyDocker(t, appImage(t)), FormatDockerArchive, compress.None},
		{gz(t, legacyDocker(t, appImage(t))), FormatDockerArchive, compress.Gzip},
		{zst(t, ociArchive(t, false, appImage(t))), FormatOCIArchive, compress.Zstd},
		{[]byte("hello, world"), FormatUnknown, compress.None},
	} {
		p, err := Peek(bufio.NewReaderSize(bytes.NewReader(c.data), 1<<16))
		if err != nil {
			t.Fatal(err)
		}
		if p.Format != c.want || p.Compression != c.comp || p.Tar != (c.want != FormatUnknown) {
			t.Errorf("Peek = %+v, want %s %s", p, c.want, c.comp)
		}
	}
}

var _ = digest.FromBytes
var _ = errors.Is

// TestLoadSourceErrorWrappingEOF: a source failing with an error that wraps io.EOF (as
// x/crypto/ssh's "handshake failed: EOF" does) is a failed read, not the end of the
// archive: Load returns that error at any cut, and stores nothing.
func TestLoadSourceErrorWrappingEOF(t *testing.T) {
	ctx := context.Background()
	lost := fmt.Errorf("ssh: handshake failed: %w (gave up after 2 retries)", io.EOF)
	for _, data := range [][]byte{legacyDocker(t, appImage(t)), ociArchive(t, false, appImage(t))} {
		for _, off := range []int{0, 600, len(data) / 2, len(data) - 1024} {
			s := newStore(t)
			r := io.MultiReader(bytes.NewReader(data[:off]), iotest.ErrReader(lost))
			if _, err := Load(ctx, s, r, LoadOptions{}); !errors.Is(err, lost) {
				t.Errorf("cut at %d of %d: Load = %v, want the source's error", off, len(data), err)
			}
			if _, err := s.Resolve(ctx, "app:1"); err == nil {
				t.Errorf("cut at %d of %d: app:1 was stored", off, len(data))
			}
		}
	}
}
