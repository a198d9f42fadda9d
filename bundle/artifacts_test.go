package bundle

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/internal/testutil"
	"github.com/imgx/imgx/store"
)

// attach writes a cosign-like artifact (an OCI manifest whose one layer is payload)
// attached to subject into s and returns its descriptor.
func attach(t testing.TB, s *store.Store, subject digest.Digest, kind store.ArtifactKind, payload string) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	tx, err := s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Discard()
	l, err := tx.PutBytes(ctx, "application/vnd.dev.cosign.simplesigning.v1+json", []byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := json.Marshal(map[string]any{"architecture": "", "os": "", "rootfs": map[string]any{"type": "layers", "diff_ids": []digest.Digest{l.Digest}}})
	c, err := tx.PutBytes(ctx, ocispec.MediaTypeImageConfig, cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: c, Layers: []ocispec.Descriptor{l}}
	m.SchemaVersion = 2
	mb, _ := json.Marshal(m)
	md, err := tx.PutBytes(ctx, ocispec.MediaTypeImageManifest, mb)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.AddArtifact(store.Artifact{Subject: subject, Kind: kind, Desc: md}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return md
}

// TestArtifactsTravel: a bundle carries the artifacts of its images by default (format
// 1.1), load restores them linked to their subject, --exclude-extras leaves them out
// (format 1.0), and a delta carries them too.
func TestArtifactsTravel(t *testing.T) {
	ctx := context.Background()
	src := sourceStore(t)
	app, err := src.Resolve(ctx, "example/app:1")
	if err != nil {
		t.Fatal(err)
	}
	sig := attach(t, src, app.Desc.Digest, store.KindSignature, `{"critical":{"image":{"docker-manifest-digest":"`+app.Desc.Digest.String()+`"}}}`)
	att := attach(t, src, app.Desc.Digest, store.KindAttestation, `{"payloadType":"application/vnd.in-toto+json"}`)

	b := save(t, src, []string{"example/app:1"}, SaveOptions{Compression: None})
	rd, err := openReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	m := rd.Manifest
	rd.Close()
	if m.FormatVersion != FormatVersionArtifacts || len(m.Artifacts) != 2 {
		t.Fatalf("bundle: version %s, %d artifacts; want %s and 2", m.FormatVersion, len(m.Artifacts), FormatVersionArtifacts)
	}
	if _, err := Verify(ctx, bytes.NewReader(b), VerifyOptions{Policy: policyNone}); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	dst := newStore(t)
	if _, err := Load(ctx, dst, bytes.NewReader(b), LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	arts, err := dst.ArtifactsOf(ctx, app.Desc)
	if err != nil || len(arts) != 2 || arts[0].Desc.Digest != sig.Digest || arts[1].Desc.Digest != att.Digest || arts[0].Kind != store.KindSignature {
		t.Fatalf("loaded artifacts %+v, %v", arts, err)
	}
	if rep, err := dst.Check(ctx); err != nil || !rep.OK() || rep.Unreachable != 0 {
		t.Fatalf("check after load: %+v %v", rep, err)
	}

	// --exclude-extras: none, and the format stays 1.0 for older readers.
	b2 := save(t, src, []string{"example/app:1"}, SaveOptions{Compression: None, ExcludeExtras: true})
	rd, _ = openReader(bytes.NewReader(b2))
	if rd.Manifest.FormatVersion != FormatVersion || len(rd.Manifest.Artifacts) != 0 || len(rd.Manifest.Blobs) != len(m.Blobs)-6 {
		t.Fatalf("--exclude-extras: version %s, %d artifacts, %d blobs (with: %d)", rd.Manifest.FormatVersion, len(rd.Manifest.Artifacts), len(rd.Manifest.Blobs), len(m.Blobs))
	}
	rd.Close()

	// A delta carries them as well: manifests always, their layers when new.
	dir := t.TempDir()
	fullPath := filepath.Join(dir, "full.imgx")
	os.WriteFile(fullPath, b, 0o644)
	base, err := ReadBase(ctx, fullPath)
	if err != nil {
		t.Fatal(err)
	}
	delta := save(t, src, []string{"example/app:1", "example/web:2"}, SaveOptions{Since: base})
	dst2 := newStore(t)
	if _, err := Load(ctx, dst2, bytes.NewReader(b), LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(ctx, dst2, bytes.NewReader(delta), LoadOptions{}); err != nil {
		t.Fatalf("load delta with artifacts: %v", err)
	}
	if arts, _ := dst2.Artifacts(); len(arts) != 2 {
		t.Fatalf("after full + delta: %d artifacts, want 2 (once each)", len(arts))
	}
}

// TestHostileArtifactBundles: a bundle manifest whose artifacts are unattached, of an
// unknown kind, or declared in a 1.0 bundle is refused and the store is unchanged.
func TestHostileArtifactBundles(t *testing.T) {
	ctx := context.Background()
	src := sourceStore(t)
	app, _ := src.Resolve(ctx, "example/app:1")
	attach(t, src, app.Desc.Digest, store.KindSignature, "sig")
	b := save(t, src, []string{"example/app:1"}, SaveOptions{Compression: None})
	for _, tc := range []struct {
		name, want string
		edit       func(m *Manifest)
	}{
		{"subject not in the bundle", "no image of the bundle reaches", func(m *Manifest) { m.Artifacts[0].Subject = digest.FromString("other") }},
		{"unknown kind", "unknown kind", func(m *Manifest) { m.Artifacts[0].Kind = "exploit" }},
		{"artifacts in a 1.0 bundle", "formatVersion 1.0 with artifacts", func(m *Manifest) { m.FormatVersion = FormatVersion }},
		{"artifact left out", "listed but no image uses it", func(m *Manifest) { m.Artifacts = nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es := readEntries(t, b)
			var m Manifest
			if err := json.Unmarshal(es[0].data, &m); err != nil {
				t.Fatal(err)
			}
			tc.edit(&m)
			es[0].data, _ = m.Marshal()
			bad := writeEntries(t, es)
			dst := newStore(t)
			before := testutil.VisibleTreeHash(t, dst.Root())
			_, err := Load(ctx, dst, bytes.NewReader(bad), LoadOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load = %v, want an error containing %q", err, tc.want)
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrImage) {
				t.Errorf("error %v is neither malformed nor an image error", err)
			}
			if testutil.VisibleTreeHash(t, dst.Root()) != before {
				t.Fatal("refused bundle changed the store")
			}
		})
	}
}
