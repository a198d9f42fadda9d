package serve

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func do(t testing.TB, method, url string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func errCode(body []byte) string {
	var doc struct {
		Errors []struct{ Code string }
	}
	if json.Unmarshal(body, &doc) != nil || len(doc.Errors) == 0 {
		return ""
	}
	return doc.Errors[0].Code
}

// TestServeAPI checks each endpoint's status, headers and body against the seeded store.
func TestServeAPI(t *testing.T) {
	s := seed(t)
	base := start(t, s.st)
	appBytes, err := s.st.ReadBlob(t.Context(), s.app)
	if err != nil {
		t.Fatal(err)
	}
	f, err := s.st.Open(t.Context(), s.layer.Digest)
	if err != nil {
		t.Fatal(err)
	}
	layer, _ := io.ReadAll(f)
	f.Close()
	missing := digest.FromString("not in the store")

	type tc struct {
		name, method, path string
		hdr                map[string]string
		status             int
		code               string            // error code expected in the body
		headers            map[string]string // expected response headers
		body               []byte            // expected body, if set
		check              func(t *testing.T, body []byte, h http.Header)
	}
	tags := func(want ...string) func(*testing.T, []byte, http.Header) {
		return func(t *testing.T, body []byte, _ http.Header) {
			var doc struct {
				Name string
				Tags []string
			}
			if err := json.Unmarshal(body, &doc); err != nil {
				t.Fatal(err)
			}
			if strings.Join(doc.Tags, ",") != strings.Join(want, ",") {
				t.Errorf("tags %v, want %v", doc.Tags, want)
			}
		}
	}
	cases := []tc{
		{name: "ping", method: "GET", path: "/v2/", status: 200, headers: map[string]string{"Docker-Distribution-API-Version": "registry/2.0"}},
		{name: "manifest by short name", method: "GET", path: "/v2/app/manifests/1.0", status: 200, body: appBytes,
			headers: map[string]string{"Content-Type": ocispec.MediaTypeImageManifest, "Docker-Content-Digest": s.app.Digest.String()}},
		{name: "manifest by full name", method: "GET", path: "/v2/registry.example/app/manifests/latest", status: 200, body: appBytes},
		{name: "manifest head", method: "HEAD", path: "/v2/app/manifests/1.0", status: 200,
			headers: map[string]string{"Content-Length": itoa(len(appBytes)), "Docker-Content-Digest": s.app.Digest.String(), "Content-Type": ocispec.MediaTypeImageManifest}},
		{name: "manifest by digest", method: "GET", path: "/v2/team/web/manifests/" + s.app.Digest.String(), status: 200, body: appBytes},
		{name: "untagged artifact by digest", method: "GET", path: "/v2/app/manifests/" + s.sig.Digest.String(), status: 200},
		{name: "unknown tag", method: "GET", path: "/v2/app/manifests/2.0", status: 404, code: codeManifestUnknown},
		{name: "unknown manifest digest", method: "GET", path: "/v2/app/manifests/" + missing.String(), status: 404, code: codeManifestUnknown},
		{name: "layer digest is no manifest", method: "GET", path: "/v2/app/manifests/" + s.layer.Digest.String(), status: 404, code: codeManifestUnknown},
		{name: "unknown repository", method: "GET", path: "/v2/nope/manifests/1.0", status: 404, code: codeNameUnknown},
		{name: "blob", method: "GET", path: "/v2/app/blobs/" + s.layer.Digest.String(), status: 200, body: layer,
			headers: map[string]string{"Docker-Content-Digest": s.layer.Digest.String(), "Content-Length": itoa(len(layer))}},
		{name: "blob head", method: "HEAD", path: "/v2/app/blobs/" + s.layer.Digest.String(), status: 200, headers: map[string]string{"Content-Length": itoa(len(layer))}},
		{name: "blob range", method: "GET", path: "/v2/app/blobs/" + s.layer.Digest.String(), hdr: map[string]string{"Range": "bytes=10-19"}, status: 206, body: layer[10:20],
			headers: map[string]string{"Content-Range": "bytes 10-19/" + itoa(len(layer))}},
		{name: "blob suffix range", method: "GET", path: "/v2/app/blobs/" + s.layer.Digest.String(), hdr: map[string]string{"Range": "bytes=-5"}, status: 206, body: layer[len(layer)-5:]},
		{name: "range past end", method: "GET", path: "/v2/app/blobs/" + s.layer.Digest.String(), hdr: map[string]string{"Range": "bytes=99999999-"}, status: 416},
		{name: "unknown blob", method: "GET", path: "/v2/app/blobs/" + missing.String(), status: 404, code: codeBlobUnknown},
		{name: "bad digest", method: "GET", path: "/v2/app/blobs/sha256:xyz", status: 400, code: codeDigestInvalid},
		{name: "md5 digest", method: "GET", path: "/v2/app/blobs/md5:d41d8cd98f00b204e9800998ecf8427e", status: 400, code: codeDigestInvalid},
		{name: "tags", method: "GET", path: "/v2/app/tags/list", status: 200, check: tags("1.0", "latest")},
		{name: "tags n=1", method: "GET", path: "/v2/app/tags/list?n=1", status: 200, check: func(t *testing.T, body []byte, h http.Header) {
			tags("1.0")(t, body, h)
			if l := h.Get("Link"); l != `</v2/app/tags/list?last=1.0&n=1>; rel="next"` {
				t.Errorf("Link %q", l)
			}
		}},
		{name: "tags last", method: "GET", path: "/v2/app/tags/list?last=1.0", status: 200, check: tags("latest")},
		{name: "tags n=0", method: "GET", path: "/v2/app/tags/list?n=0", status: 200, check: tags()},
		{name: "tags huge n", method: "GET", path: "/v2/app/tags/list?n=99999999999999999999", status: 400, code: codePaginationN},
		{name: "tags negative n", method: "GET", path: "/v2/app/tags/list?n=-1", status: 400, code: codePaginationN},
		{name: "catalog", method: "GET", path: "/v2/_catalog", status: 200, check: func(t *testing.T, body []byte, _ http.Header) {
			if got := string(body); got != `{"repositories":["app","docker.io/team/web","registry.example/app","team/web"]}` {
				t.Errorf("catalog %s", got)
			}
		}},
		{name: "catalog page", method: "GET", path: "/v2/_catalog?n=2&last=app", status: 200, check: func(t *testing.T, body []byte, h http.Header) {
			if got := string(body); got != `{"repositories":["docker.io/team/web","registry.example/app"]}` {
				t.Errorf("catalog %s", got)
			}
			if h.Get("Link") == "" {
				t.Error("no Link header")
			}
		}},
		{name: "referrers", method: "GET", path: "/v2/app/referrers/" + s.app.Digest.String(), status: 200,
			headers: map[string]string{"Content-Type": ocispec.MediaTypeImageIndex},
			check: func(t *testing.T, body []byte, _ http.Header) {
				var ix ocispec.Index
				if err := json.Unmarshal(body, &ix); err != nil {
					t.Fatal(err)
				}
				if len(ix.Manifests) != 1 || ix.Manifests[0].Digest != s.sig.Digest || ix.Manifests[0].ArtifactType != s.artifact || ix.Manifests[0].Annotations["org.example.note"] != "one" {
					t.Errorf("referrers %s", body)
				}
			}},
		{name: "referrers filtered out", method: "GET", path: "/v2/app/referrers/" + s.app.Digest.String() + "?artifactType=application/x-other", status: 200,
			headers: map[string]string{"OCI-Filters-Applied": "artifactType"}, body: []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`)},
		{name: "referrers none", method: "GET", path: "/v2/app/referrers/" + missing.String(), status: 200,
			body: []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`)},
		{name: "put manifest", method: "PUT", path: "/v2/app/manifests/1.0", status: 405, code: codeUnsupported},
		{name: "delete manifest", method: "DELETE", path: "/v2/app/manifests/" + s.app.Digest.String(), status: 405, code: codeUnsupported},
		{name: "start upload", method: "POST", path: "/v2/app/blobs/uploads/", status: 405, code: codeUnsupported},
		{name: "patch upload", method: "PATCH", path: "/v2/app/blobs/uploads/abc", status: 405, code: codeUnsupported},
		{name: "delete blob", method: "DELETE", path: "/v2/app/blobs/" + s.layer.Digest.String(), status: 405, code: codeUnsupported},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := do(t, c.method, base+c.path, c.hdr)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, body)
			}
			if c.code != "" && errCode(body) != c.code {
				t.Errorf("error code %q, want %q: %s", errCode(body), c.code, body)
			}
			for k, v := range c.headers {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			if c.body != nil && string(body) != string(c.body) {
				t.Errorf("body %.200q, want %.200q", body, c.body)
			}
			if c.check != nil {
				c.check(t, body, resp.Header)
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
