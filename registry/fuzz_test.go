package registry_test

import (
	"bytes"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/imgx/imgx/internal/testutil"
	"github.com/imgx/imgx/oci"
	"github.com/imgx/imgx/registry"
)

// FuzzPullManifest serves arbitrary bytes as the manifest (or index) of a tag, next to
// a real image's blobs, and pulls it: a registry is untrusted input. Pull must not panic,
// and whenever it fails the store must be exactly as before.
func FuzzPullManifest(f *testing.F) {
	h := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(h)
	f.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	img, err := random.Image(1024, 2)
	if err != nil {
		f.Fatal(err)
	}
	seed, _ := name.ParseReference(host+"/fuzz:seed", name.Insecure)
	if err := remote.Write(seed, img); err != nil {
		f.Fatal(err)
	}
	raw, _ := img.RawManifest()
	f.Add(raw)
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` + strings.Repeat("a", 64) + `","size":10}]}`))
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"digest":"sha256:../../x","size":-1},"layers":[]}`))
	f.Add([]byte(`{"schemaVersion":1}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, manifest []byte) {
		mt, err := oci.MediaTypeOf(manifest)
		if err != nil || !oci.IsManifest(mt) && !oci.IsIndex(mt) {
			mt = "application/vnd.oci.image.manifest.v1+json"
		}
		req, _ := http.NewRequest(http.MethodPut, srv.URL+"/v2/fuzz/manifests/1", bytes.NewReader(manifest))
		req.Header.Set("Content-Type", mt)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			// Nothing to pull: the registry refused the manifest (a seed such as {}). A
			// return, not t.Skip, so that `make test` can require that nothing skipped.
			return
		}
		s := newStore(t)
		if _, err := registry.Pull(ctx, s, host+"/fuzz:seed", registry.PullOptions{Options: opts()}); err != nil {
			t.Fatal(err)
		}
		before := testutil.VisibleTreeHash(t, s.Root())
		if _, err := registry.Pull(ctx, s, host+"/fuzz:1", registry.PullOptions{Options: opts()}); err == nil {
			if rep, err := s.Check(ctx); err != nil || !rep.OK() {
				t.Fatalf("pull succeeded into an inconsistent store: %v %+v", err, rep)
			}
			return
		}
		if after := testutil.VisibleTreeHash(t, s.Root()); after != before {
			t.Fatalf("a failed pull changed the store:\n%s\n---\n%s", before, after)
		}
	})
}
