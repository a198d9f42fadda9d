package registry_test

import (
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/imgx/imgx/internal/testutil"
	"github.com/imgx/imgx/registry"
	"github.com/imgx/imgx/store"
)

// A pull that fails midway (the registry errors on the last blob) keeps the layers it
// verified staged; the re-run downloads only the rest and says how many it reused.
func TestFailedPullKeepsVerifiedBlobs(t *testing.T) {
	var failConfig atomic.Bool
	var blobGets atomic.Int32
	var cfgPath string
	host := newRegistry(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
				blobGets.Add(1)
				if failConfig.Load() && strings.HasSuffix(r.URL.Path, cfgPath) {
					http.Error(w, "backend unavailable", http.StatusServiceUnavailable)
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	})
	img := seedImage(t, host+"/app:1", 3)
	cfg, _ := img.ConfigName()
	cfgPath = cfg.String()
	ls, _ := img.Layers()
	o := opts()
	o.Jobs = 1 // biggest first: the three layers, then the small config, which fails

	s := newStore(t)
	before := testutil.VisibleTreeHash(t, s.Root())
	failConfig.Store(true)
	if _, err := registry.Pull(ctx, s, host+"/app:1", registry.PullOptions{Options: o}); err == nil || !strings.Contains(err.Error(), cfgPath) {
		t.Fatalf("pull with a failing config = %v, want an error naming it", err)
	}
	if after := testutil.VisibleTreeHash(t, s.Root()); after != before {
		t.Errorf("failed pull changed the store:\n%s\n---\n%s", before, after)
	}
	staged := testutil.Staged(t, s.Root())
	for _, l := range ls {
		if _, ok := staged[digestOf(t, l)[len("sha256:"):]]; !ok {
			t.Errorf("verified layer %s not kept staged", digestOf(t, l))
		}
	}

	failConfig.Store(false)
	blobGets.Store(0)
	res, err := registry.Pull(ctx, s, host+"/app:1", registry.PullOptions{Options: o})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("re-run: %d blobs, %d fetched (%d bytes), %d present, %d reused; %d blob GETs", res.Blobs, res.Fetched, res.FetchedBytes, res.Present, res.Reused, blobGets.Load())
	if res.Reused != len(ls) || res.Present != len(ls) || res.Fetched != 1 || blobGets.Load() != 1 {
		t.Errorf("re-run reused %d, present %d, fetched %d with %d blob GETs; want %d, %d, 1, 1", res.Reused, res.Present, res.Fetched, blobGets.Load(), len(ls), len(ls))
	}
	if rep, err := s.Check(ctx); err != nil || !rep.OK() || rep.Leftovers != 0 {
		t.Errorf("store check: %v %+v", err, rep)
	}
}

// A blob whose bytes do not match its digest is never kept staged, whatever else is.
func TestFailedPullDropsBadBlob(t *testing.T) {
	host := newRegistry(t, nil)
	img := seedImage(t, host+"/app:1", 3)
	ls, _ := img.Layers()
	bad := digestOf(t, ls[1])
	faulty := newRegistry(t, corrupt(bad, false))
	write(t, faulty+"/app:1", img)
	o := opts()
	o.Jobs = 1
	s := newStore(t)
	_, err := registry.Pull(ctx, s, faulty+"/app:1", registry.PullOptions{Options: o})
	if !errors.Is(err, store.ErrDigestMismatch) {
		t.Fatalf("pull = %v, want a digest mismatch", err)
	}
	staged := testutil.Staged(t, s.Root()) // fails on any staged file that does not verify
	if _, ok := staged[bad[len("sha256:"):]]; ok {
		t.Fatal("the corrupted layer was kept staged")
	}
}
