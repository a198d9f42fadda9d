package registry_test

import (
	"strings"
	"testing"

	"github.com/imgx/imgx/internal/testserver"
	"github.com/imgx/imgx/internal/testutil"
	"github.com/imgx/imgx/registry"
)

// The same against a real registry (docker-registry) behind a proxy that cuts the
// connection partway through the layers: the verified layers stay staged, and the pull
// through a healthy link downloads only the rest.
func TestFailedPullKeepsVerifiedBlobsRealRegistry(t *testing.T) {
	testserver.RealTests(t)
	reg := testserver.StartRegistry(t, testserver.RegistryOptions{})
	host := strings.TrimPrefix(reg.URL(), "http://")
	img := seedImage(t, host+"/app:1", 4)
	ls, _ := img.Layers()
	var total int64
	for _, l := range ls {
		n, _ := l.Size()
		total += n
	}
	proxy := testserver.StartProxy(t, host)
	proxy.CutAfter.Store(total / 2) // bytes per connection: about half the layers get through
	o := opts()
	o.Jobs = 1
	s := newStore(t)
	before := testutil.VisibleTreeHash(t, s.Root())
	if _, err := registry.Pull(ctx, s, proxy.Addr+"/app:1", registry.PullOptions{Options: o}); err == nil {
		t.Fatal("pull through a link cut halfway succeeded")
	} else {
		t.Logf("cut pull: %v (%d connections cut)", err, proxy.Cuts.Load())
	}
	if after := testutil.VisibleTreeHash(t, s.Root()); after != before {
		t.Errorf("failed pull changed the store:\n%s\n---\n%s", before, after)
	}
	staged := testutil.Staged(t, s.Root())
	if len(staged) == 0 {
		t.Fatal("no verified layer kept staged")
	}
	proxy.CutAfter.Store(0)
	res, err := registry.Pull(ctx, s, proxy.Addr+"/app:1", registry.PullOptions{Options: o})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("re-run: %d blobs, %d fetched, %d reused", res.Blobs, res.Fetched, res.Reused)
	if res.Reused != len(staged) || res.Fetched != res.Blobs-len(staged) {
		t.Errorf("re-run reused %d and fetched %d of %d blobs; %d were staged", res.Reused, res.Fetched, res.Blobs, len(staged))
	}
	if rep, err := s.Check(ctx); err != nil || !rep.OK() || rep.Leftovers != 0 {
		t.Errorf("store check: %v %+v", err, rep)
	}
}
