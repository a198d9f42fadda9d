package serve

import (
	"strings"
	"testing"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestServeNames checks the mapping from stored names to served repositories: the host
// is dropped (and Docker Hub's library/), the full name also works when its host has no
// port, and two stored names that shorten to the same name and tag with different images
// leave the short form ambiguous (refused, naming both) instead of picking one.
func TestServeNames(t *testing.T) {
	s := seed(t) // registry.example/app:1.0 and :latest, team/web:2
	other, _ := writeImage(t, s.st, 20, []int{1 << 10}, "mirror.example/app:1.0", "mirror.example/app:2.0")
	port, _ := writeImage(t, s.st, 21, []int{1 << 10}, "localhost:5000/tools/jq:1")
	hub, _ := writeImage(t, s.st, 22, []int{1 << 10}, "busybox:1")
	base := start(t, s.st)
	for _, c := range []struct {
		path   string
		status int
		digest v1.Descriptor
	}{
		{"/v2/app/manifests/2.0", 200, other},
		{"/v2/mirror.example/app/manifests/1.0", 200, other},
		{"/v2/registry.example/app/manifests/1.0", 200, s.app},
		{"/v2/app/manifests/1.0", 404, v1.Descriptor{}},
		{"/v2/app/manifests/latest", 200, s.app},
		{"/v2/tools/jq/manifests/1", 200, port},
		{"/v2/localhost/tools/jq/manifests/1", 404, v1.Descriptor{}},
		{"/v2/busybox/manifests/1", 200, hub},
		{"/v2/docker.io/library/busybox/manifests/1", 200, hub},
		{"/v2/library/busybox/manifests/1", 404, v1.Descriptor{}},
	} {
		resp, body := do(t, "GET", base+c.path, nil)
		if resp.StatusCode != c.status {
			t.Errorf("%s: %d, want %d: %s", c.path, resp.StatusCode, c.status, body)
			continue
		}
		if c.status == 200 && resp.Header.Get("Docker-Content-Digest") != c.digest.Digest.String() {
			t.Errorf("%s: digest %s, want %s", c.path, resp.Header.Get("Docker-Content-Digest"), c.digest.Digest)
		}
	}
	_, body := do(t, "GET", base+"/v2/app/manifests/1.0", nil)
	if !strings.Contains(string(body), "mirror.example/app") || !strings.Contains(string(body), "registry.example/app") || errCode(body) != codeManifestUnknown {
		t.Errorf("ambiguous tag: %s", body)
	}
	_, body = do(t, "GET", base+"/v2/app/tags/list", nil)
	if string(body) != `{"name":"app","tags":["1.0","2.0","latest"]}` {
		t.Errorf("tags of the shared short name: %s", body)
	}
}
