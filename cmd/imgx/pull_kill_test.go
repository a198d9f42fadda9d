package main

import (
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/imgx/imgx/registry"
)

// TestKillDuringPull SIGKILLs imgx pull at several points of a slow download (a registry
// that sends blobs at a limited rate) and checks after each kill that the store is
// consistent and has no image yet; the re-runs reuse the blobs verified before a kill, and
// the last one completes with the registry's digest.
func TestKillDuringPull(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: builds imgx and pulls repeatedly")
	}
	var blobGets atomic.Int64
	h := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
			blobGets.Add(1)
			w = &slowWriter{ResponseWriter: w}
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	img, err := random.Image(512<<10, 8)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := name.ParseReference(host+"/app:1", name.Insecure)
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()

	bin := buildImgx(t)
	st := filepath.Join(t.TempDir(), "store")
	pull := []string{"--store", st, "pull", "--insecure", "--progress", "none", "--jobs", "2", "--json", host + "/app:1"}
	for _, d := range []time.Duration{150, 400, 700, 1000} {
		killAfter(t, exec.Command(bin, pull...), d*time.Millisecond)
		out, err := exec.Command(bin, "--store", st, "check").CombinedOutput()
		if err != nil {
			t.Fatalf("check after a pull killed at %dms: %v\n%s", d, err, out)
		}
		// A kill after the commit leaves the whole image; before it, none.
		if out, _ := exec.Command(bin, "--store", st, "images", "-q").CombinedOutput(); strings.TrimSpace(string(out)) != "" {
			got, err := exec.Command(bin, "--store", st, "inspect", "--format", "{{ .Digest }}", host+"/app:1").CombinedOutput()
			if err != nil || strings.TrimSpace(string(got)) != want.String() {
				t.Fatalf("after a kill at %dms the store has %s (%v), want nothing or %s", d, got, err, want)
			}
		}
	}
	before := blobGets.Load()
	out, err := exec.Command(bin, pull...).Output()
	if err != nil {
		t.Fatalf("final pull: %v\n%s", err, out)
	}
	var res registry.PullResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	if res.Desc.Digest.String() != want.String() {
		t.Fatalf("pulled %s, want %s", res.Desc.Digest, want)
	}
	t.Logf("final pull: %d of %d blobs fetched, %d already staged", res.Fetched, res.Blobs, res.Present)
	if res.Present == 0 || int64(res.Fetched) != blobGets.Load()-before {
		t.Errorf("final pull fetched %d of %d blobs (%d GETs): the blobs verified before the kills were not reused", res.Fetched, res.Blobs, blobGets.Load()-before)
	}
	if out, err := exec.Command(bin, "--store", st, "prune").CombinedOutput(); err != nil {
		t.Fatalf("prune: %v\n%s", err, out)
	}
	if ents, _ := os.ReadDir(filepath.Join(st, ".imgx", "staged", "sha256")); len(ents) != 0 {
		t.Errorf("%d staged blobs left after a completed pull and prune", len(ents))
	}
}

// slowWriter sends at most 32 KiB per 10 ms (about 3 MB/s).
type slowWriter struct{ http.ResponseWriter }

func (s *slowWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		c := min(len(p), 32<<10)
		m, err := s.ResponseWriter.Write(p[:c])
		n += m
		if err != nil {
			return n, err
		}
		if f, ok := s.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		time.Sleep(10 * time.Millisecond)
		p = p[c:]
	}
	return n, nil
}
