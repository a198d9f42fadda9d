package bundle

import (
	"errors"
	"strings"
	"testing"
)

// recipeManifest is a format-2 manifest with one recipe; version, media type and
// requires are filled in per case.
func recipeManifest(version, mediaType, requires string) string {
	h := func(c string) string { return "sha256:" + strings.Repeat(c, 64) }
	return `{"mediaType":"` + mediaType + `","formatVersion":"` + version + `",` + requires + `
"created":"2025-06-01T12:00:00Z","sequence":1,"base":{"digest":"` + h("e") + `","sequence":0},
"images":[{"name":"app:1.2","ref":"docker.io/library/app:1.2","descriptor":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + h("a") + `","size":10}}],
"files":[{"name":"oci-layout","digest":"` + h("1") + `","size":30},{"name":"index.json","digest":"` + h("2") + `","size":30},{"name":"manifest.json","digest":"` + h("3") + `","size":30}],
"blobs":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + h("a") + `","size":10},{"mediaType":"application/vnd.imgx.layer.recipe.v1+zstd","digest":"` + h("b") + `","size":10}],
"recipes":[{"layer":{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"` + h("c") + `","size":99},
"recipe":{"mediaType":"application/vnd.imgx.layer.recipe.v1+zstd","digest":"` + h("b") + `","size":10},"bases":["` + h("d") + `"]}]}`
}

// A bundle using layer recipes is format 2.0 with requires ["layer-recipes"]: a 1.x
// reader refuses it by version (pinned before this reader learnt format 2: ParseManifest
// refused "2.0 (this imgx reads 1.x)"), and this reader refuses what it does not know
// the same clean way, never misreading it.
func TestHostileRecipeBundleVersions(t *testing.T) {
	req := `"requires":["layer-recipes"],`
	cases := []struct {
		name, manifest string
		want           error
		says           string
	}{
		{"well formed", recipeManifest("2.0", MediaTypeV2, req), nil, ""},
		{"major 3", recipeManifest("3.0", MediaTypeV2, req), ErrVersion, "3.0"},
		{"unknown required feature", recipeManifest("2.0", MediaTypeV2, `"requires":["layer-recipes","chunked-layers"],`), ErrVersion, "chunked-layers"},
		{"format 2 without requires", recipeManifest("2.0", MediaTypeV2, ""), ErrVersion, "without required features"},
		{"format 2 with the v1 media type", recipeManifest("2.0", MediaType, req), ErrMalformed, "mediaType"},
		{"recipes in format 1", recipeManifest("1.0", MediaType, ""), ErrMalformed, "format 2"},
		{"recipe blob missing", strings.Replace(recipeManifest("2.0", MediaTypeV2, req), `"blobs":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:`+strings.Repeat("a", 64)+`","size":10},`, `"blobs":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:`+strings.Repeat("a", 64)+`","size":10}],"x":[`, 1), ErrMalformed, "not carried"},
		{"base carried in the same bundle", strings.Replace(recipeManifest("2.0", MediaTypeV2, req), `"bases":["sha256:`+strings.Repeat("d", 64), `"bases":["sha256:`+strings.Repeat("a", 64), 1), ErrMalformed, "held before the bundle"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseManifest([]byte(c.manifest))
			if c.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("got %v, want %v saying %q", err, c.want, c.says)
			}
		})
	}
}
