package image

import (
	"archive/tar"
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/ref"
	"github.com/imgx/imgx/store"
)

type entry struct {
	name, body string
	typ        byte
}

func tarOf(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		h := &tar.Header{Name: e.name, Typeflag: typ, Mode: 0o644, Size: int64(len(e.body))}
		if typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	tw.Close()
	return buf.Bytes()
}

func importTar(t *testing.T, s *store.Store, data []byte, name string, opts ImportOptions) (ocispec.Descriptor, error) {
	t.Helper()
	ctx := context.Background()
	tx, err := s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Discard()
	d, err := Import(ctx, tx, bytes.NewReader(data), opts)
	if err != nil {
		return d, err
	}
	r, _ := ref.ParseNamed(name)
	tx.Tag(r, d)
	return d, tx.Commit(ctx)
}

func TestImportAndLoad(t *testing.T) {
	s, _ := store.Open(t.TempDir())
	fixed := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	d, err := importTar(t, s, tarOf(t, entry{name: "./bin/", typ: tar.TypeDir}, entry{name: "./bin/hello", body: "hi"}), "app:1", ImportOptions{
		Platform: ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"},
		Message:  "from test",
		Changes:  func(c *v1.Config) error { c.Entrypoint = []string{"/bin/hello"}; return nil },
		Now:      func() time.Time { return fixed },
	})
	if err != nil {
		t.Fatal(err)
	}
	im, err := Load(context.Background(), s, d, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := im.Config
	if c.OS != "linux" || c.Architecture != "arm64" || c.Variant != "v8" || !c.Created.Time.Equal(fixed) ||
		len(c.Config.Entrypoint) != 1 || len(c.History) != 1 || c.History[0].Comment != "from test" || len(c.RootFS.DiffIDs) != 1 {
		t.Errorf("config = %+v", c)
	}
	if d.Platform == nil || d.Platform.Architecture != "arm64" {
		t.Errorf("descriptor platform = %+v", d.Platform)
	}
	// The layer holds the entries with normalised names, and its diff ID matches.
	rc, err := im.OpenLayer(context.Background(), s, 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, h.Name)
	}
	rc.Close()
	if strings.Join(names, ",") != "bin/,bin/hello" {
		t.Errorf("layer entries = %v", names)
	}
}

func TestImportRejects(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"dotdot", tarOf(t, entry{name: "../etc/passwd", body: "x"}), "'..' component"},
		{"absolute", tarOf(t, entry{name: "/etc/passwd", body: "x"}), "absolute path"},
		{"link escapes", tarOf(t, entry{name: "a", body: "x"}, entry{name: "l", typ: tar.TypeLink, body: ""}), "hard link target"},
		{"empty", nil, "no entries"},
		{"garbage", bytes.Repeat([]byte("garbage!"), 200), "bad filesystem tar"},
		{"truncated", tarOf(t, entry{name: "f", body: strings.Repeat("x", 4000)})[:1500], "bad filesystem tar"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := store.Open(t.TempDir())
			_, err := importTar(t, s, tt.data, "x:1", ImportOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Import = %v, want error containing %q", err, tt.want)
			}
			if ents, _ := s.Entries(); len(ents) != 0 {
				t.Error("a rejected import left an image")
			}
		})
	}
}

func TestSelectPlatform(t *testing.T) {
	mk := func(arch, variant string) ocispec.Descriptor {
		return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.Digest("sha256:" + strings.Repeat(arch[:1], 64)), Size: 1,
			Platform: &ocispec.Platform{OS: "linux", Architecture: arch, Variant: variant}}
	}
	ix := &ocispec.Index{Manifests: []ocispec.Descriptor{mk("amd64", ""), mk("arm64", "v8"), mk("arm", "v7")}}
	for _, tt := range []struct {
		p    *ocispec.Platform
		want string
		err  bool
	}{
		{&ocispec.Platform{OS: "linux", Architecture: "arm64"}, "arm64", false},
		{&ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, "arm", false},
		{&ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v6"}, "", true},
		{&ocispec.Platform{OS: "windows", Architecture: "amd64"}, "", true},
	} {
		d, err := SelectPlatform(ix, tt.p)
		if (err != nil) != tt.err || (err == nil && d.Platform.Architecture != tt.want) {
			t.Errorf("SelectPlatform(%v) = %v, %v", PlatformString(*tt.p), d.Platform, err)
		}
	}
	if _, err := SelectPlatform(&ocispec.Index{}, nil); err == nil {
		t.Error("empty index accepted")
	}
}

func TestFlattenIsDeterministic(t *testing.T) {
	s, _ := store.Open(t.TempDir())
	d, err := importTar(t, s, tarOf(t, entry{name: "a", body: "1"}, entry{name: "b", body: "2"}), "app:1", ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	im, _ := Load(ctx, s, d, nil)
	flat := func() ocispec.Descriptor {
		tx, _ := s.Begin(ctx)
		defer tx.Discard()
		nd, err := Flatten(ctx, s, tx, im, FlattenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return nd
	}
	a, b := flat(), flat()
	if a.Digest != b.Digest {
		t.Errorf("flattening twice gave %s and %s", a.Digest, b.Digest)
	}
}

func TestParsePlatformAndCompression(t *testing.T) {
	if p, err := ParsePlatform("linux/arm/v7"); err != nil || p.Variant != "v7" {
		t.Errorf("ParsePlatform = %+v, %v", p, err)
	}
	for _, bad := range []string{"linux", "/amd64", "a/b/c/d", ""} {
		if _, err := ParsePlatform(bad); err == nil {
			t.Errorf("ParsePlatform(%q) accepted", bad)
		}
	}
	if _, err := ParseCompression("lz4"); err == nil {
		t.Error("lz4 accepted")
	}
}
