package archive

import (
	"bytes"
	"context"
	"testing"

	"github.com/imgx/imgx/internal/cosigntest"
	"github.com/imgx/imgx/store"
)

// TestSaveArtifacts: an oci-archive keeps the artifacts of its images (annotated
// index.json entries) and imgx reads them back linked; --exclude-extras and a
// docker-archive leave them out.
func TestSaveArtifacts(t *testing.T) {
	ctx := context.Background()
	src := newStore(t)
	if _, err := Load(ctx, src, bytes.NewReader(legacyDocker(t, appImage(t))), LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	app := resolveAll(t, src, "app:1")[0]
	sig := cosigntest.Attach(t, src, app.Desc.Digest, store.KindSignature, cosigntest.Layer{MediaType: cosigntest.SimpleSigning, Data: []byte("payload")})
	for _, tc := range []struct {
		name string
		o    SaveOptions
		want int
	}{
		{"oci-archive", SaveOptions{Format: FormatOCIArchive}, 1},
		{"oci-archive --exclude-extras", SaveOptions{Format: FormatOCIArchive, ExcludeExtras: true}, 0},
		{"docker-archive", SaveOptions{Format: FormatDockerArchive}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			res, err := Save(ctx, src, &buf, []store.Resolved{app}, tc.o)
			if err != nil {
				t.Fatal(err)
			}
			if res.Images != 1 {
				t.Errorf("Images = %d, want 1 (artifacts are not images)", res.Images)
			}
			dst := newStore(t)
			lres, err := Load(ctx, dst, bytes.NewReader(buf.Bytes()), LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(lres.Images) != 1 {
				t.Errorf("loaded %v", names(lres))
			}
			arts, _ := dst.ArtifactsOf(ctx, app.Desc)
			if len(arts) != tc.want || (tc.want == 1 && (arts[0].Desc.Digest != sig.Digest || arts[0].Kind != store.KindSignature)) {
				t.Fatalf("artifacts after the round trip: %+v, want %d", arts, tc.want)
			}
			checkStore(t, dst)
		})
	}
}
