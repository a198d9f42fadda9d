package bundle

import (
	"errors"
	"strings"
	"testing"
)

// A bundle using layer recipes (docs/bundle-format.md, format 2.0 with requires
// ["layer-recipes"]) must be refused cleanly by this reader, naming the version, not
// misread as a 1.x delta whose layers are missing.
func TestHostileRecipeBundleRefusedByThisReader(t *testing.T) {
	m := `{"mediaType":"application/vnd.imgx.bundle.manifest.v1+json","formatVersion":"2.0",
"requires":["layer-recipes"],"created":"2025-06-01T12:00:00Z","sequence":1,
"images":[{"name":"app:1.2","ref":"docker.io/library/app:1.2","descriptor":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` + strings.Repeat("a", 64) + `","size":10}}],
"files":[],"blobs":[{"mediaType":"application/vnd.imgx.layer.recipe.v1+zstd","digest":"sha256:` + strings.Repeat("b", 64) + `","size":10}],
"recipes":[{"layer":{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:` + strings.Repeat("c", 64) + `","size":99},
"recipe":{"mediaType":"application/vnd.imgx.layer.recipe.v1+zstd","digest":"sha256:` + strings.Repeat("b", 64) + `","size":10},"bases":["sha256:` + strings.Repeat("d", 64) + `"]}]}`
	_, err := ParseManifest([]byte(m))
	if !errors.Is(err, ErrVersion) || !strings.Contains(err.Error(), "2.0 (this imgx reads 1.x)") {
		t.Fatalf("got %v, want the unsupported-version refusal", err)
	}
}
