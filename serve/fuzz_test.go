package serve

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzRoute checks the path parser: whatever it accepts has a name in the repository
// grammar with no dot segment, a tag in the tag grammar or a digest that validates.
func FuzzRoute(f *testing.F) {
	for _, p := range []string{"/v2/", "/v2/_catalog", "/v2/a/b/manifests/1.0", "/v2/app/blobs/sha256:" + strings.Repeat("a", 64),
		"/v2/app/referrers/sha512:" + strings.Repeat("b", 128), "/v2/../blobs/x", "/v2/app/blobs/uploads/", "/v2/%2e%2e/tags/list"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		rt, err := parseRoute(p)
		if err != nil {
			if err.status < 400 || err.code == "" {
				t.Fatalf("%q: error %+v", p, err)
			}
			return
		}
		switch rt.kind {
		case kindPing, kindCatalog:
			return
		}
		if !validName(rt.name) || strings.Contains(rt.name, "..") {
			t.Fatalf("%q: accepted name %q", p, rt.name)
		}
		if rt.dgst != "" && (rt.dgst.Validate() != nil || strings.ContainsAny(rt.dgst.Encoded(), "./\\")) {
			t.Fatalf("%q: accepted digest %q", p, rt.dgst)
		}
		if rt.kind == kindManifest && (rt.tag == "") == (rt.dgst == "") {
			t.Fatalf("%q: manifest route with tag %q and digest %q", p, rt.tag, rt.dgst)
		}
		if rt.tag != "" && !validTag(rt.tag) {
			t.Fatalf("%q: accepted tag %q", p, rt.tag)
		}
	})
}

// FuzzServe sends requests built from a fuzzed method, path, query and Range header to
// the handler over a seeded store: no panic, no 5xx (the store is healthy), and every
// answer is either success or a JSON error document.
func FuzzServe(f *testing.F) {
	s := seed(f)
	h, err := NewHandler(s.st, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { h.Close() })
	layer := s.layer.Digest.String()
	f.Add("GET", "/v2/app/blobs/"+layer, "", "bytes=0-10")
	f.Add("HEAD", "/v2/app/manifests/1.0", "", "")
	f.Add("GET", "/v2/app/tags/list", "n=1&last=1.0", "")
	f.Add("GET", "/v2/_catalog", "n=0", "")
	f.Add("GET", "/v2/app/referrers/"+s.app.Digest.String(), "artifactType=x", "")
	f.Add("DELETE", "/v2/app/blobs/"+layer, "", "bytes=-1")
	f.Fuzz(func(t *testing.T, method, path, query, rng string) {
		raw := method + " " + path
		if query != "" {
			raw += "?" + query
		}
		raw += " HTTP/1.1\r\nHost: x\r\n"
		if rng != "" {
			raw += "Range: " + rng + "\r\n"
		}
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw + "\r\n")))
		if err != nil {
			return
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%q: %d %s", raw, w.Code, w.Body)
		}
		if w.Code >= 400 && w.Code != http.StatusRequestedRangeNotSatisfiable && method != "HEAD" && errCode(w.Body.Bytes()) == "" {
			t.Fatalf("%q: %d without an error document: %s", raw, w.Code, w.Body)
		}
	})
}
