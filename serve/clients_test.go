package serve

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/store"
)

// serveStore runs New+Serve on 127.0.0.1 with o and returns host:port; the server
// stops (gracefully) when the test ends.
func serveStore(t testing.TB, st *store.Store, o Options) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(st, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// TestServeGoContainerRegistry pulls with go-containerregistry's remote package: the
// image's digest, every layer's bytes, and the referrers index.
func TestServeGoContainerRegistry(t *testing.T) {
	s := seed(t)
	addr := serveStore(t, s.st, Options{})
	r, err := name.ParseReference(addr+"/app:1.0", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r)
	if err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if d.String() != s.app.Digest.String() {
		t.Fatalf("remote.Image digest %s, store has %s", d, s.app.Digest)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		if _, err := io.Copy(h, rc); err != nil {
			t.Fatal(err)
		}
		rc.Close()
		ld, _ := l.Digest()
		if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != ld.String() {
			t.Errorf("layer %s read as %s", ld, got)
		}
	}
	ix, err := remote.Referrers(r.Context().Digest(s.app.Digest.String()))
	if err != nil {
		t.Fatal(err)
	}
	im, err := ix.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Digest.String() != s.sig.Digest.String() {
		t.Errorf("referrers: %+v", im.Manifests)
	}
}

// TestServeLiveStore commits images while clients list tags and pull everything listed:
// a tag is listed only once its commit landed, so every pull of a listed tag succeeds.
func TestServeLiveStore(t *testing.T) {
	s := seed(t)
	base := "http://" + serveStore(t, s.st, Options{})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var pulls int
	var mu sync.Mutex
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, body := do(t, "GET", base+"/v2/live/tags/list", nil)
				if resp.StatusCode == 404 {
					continue // no live image committed yet
				}
				var doc struct{ Tags []string }
				if err := json.Unmarshal(body, &doc); err != nil {
					t.Error(err)
					return
				}
				for _, tag := range doc.Tags {
					resp, body := do(t, "GET", base+"/v2/live/manifests/"+tag, nil)
					if resp.StatusCode != 200 {
						t.Errorf("listed tag %s: manifest %d %s", tag, resp.StatusCode, body)
						return
					}
					var m ocispec.Manifest
					if err := json.Unmarshal(body, &m); err != nil {
						t.Error(err)
						return
					}
					for _, l := range append(m.Layers, m.Config) {
						resp, body := do(t, "GET", base+"/v2/live/blobs/"+l.Digest.String(), nil)
						if resp.StatusCode != 200 || digest.FromBytes(body) != l.Digest {
							t.Errorf("listed tag %s: blob %s: %d", tag, l.Digest, resp.StatusCode)
							return
						}
					}
					mu.Lock()
					pulls++
					mu.Unlock()
				}
			}
		})
	}
	for i := range 15 {
		writeImage(t, s.st, uint64(100+i), []int{256 << 10, 1 << 10}, "live:t"+itoa(i))
	}
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()
	resp, body := do(t, "GET", base+"/v2/live/tags/list", nil)
	var final struct{ Tags []string }
	if resp.StatusCode != 200 || json.Unmarshal(body, &final) != nil || len(final.Tags) != 15 {
		t.Fatalf("after 15 commits: %d %s", resp.StatusCode, body)
	}
	if pulls == 0 {
		t.Fatal("no pull ran during the commits")
	}
	t.Logf("%d pulls of listed tags during 15 commits", pulls)
}

// TestServePruneDuringBlob removes an image and prunes its blobs while a client is in
// the middle of downloading its layer: the response completes with the right bytes
// (the open descriptor keeps them), and the next request for the blob is 404.
func TestServePruneDuringBlob(t *testing.T) {
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, layers := writeImage(t, st, 7, []int{24 << 20}, "big:1")
	writeImage(t, st, 8, []int{1 << 10}, "big:keep")
	layer := layers[0]
	base := "http://" + serveStore(t, st, Options{})
	resp, err := http.Get(base + "/v2/big/blobs/" + layer.Digest.String())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	h := sha256.New()
	if _, err := io.CopyN(h, resp.Body, 1<<10); err != nil {
		t.Fatal(err)
	}
	removed, rep, err := st.Remove(context.Background(), func(e store.Entry) bool { return e.Ref.Tag() == "1" }, true)
	if err != nil || len(removed) != 1 {
		t.Fatalf("remove: %v %v", removed, err)
	}
	if !containsDigest(rep.Blobs, layer.Digest) {
		t.Fatalf("prune kept the layer: %+v", rep)
	}
	if _, err := io.Copy(h, resp.Body); err != nil {
		t.Fatalf("download cut short by prune: %v", err)
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != layer.Digest.String() {
		t.Fatalf("downloaded %s, want %s", got, layer.Digest)
	}
	if resp, body := do(t, "GET", base+"/v2/big/blobs/"+layer.Digest.String(), nil); resp.StatusCode != 404 || errCode(body) != codeBlobUnknown {
		t.Fatalf("pruned blob: %d %s, want 404 BLOB_UNKNOWN", resp.StatusCode, body)
	}
}

func containsDigest(ds []digest.Digest, d digest.Digest) bool {
	for _, x := range ds {
		if x == d {
			return true
		}
	}
	return false
}
