package ingest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/imgx/imgx/archive"
	"github.com/imgx/imgx/internal/testutil"
	"github.com/imgx/imgx/store"
	"github.com/imgx/imgx/verify"
)

// TestHostileForeignFormatInIncoming: a docker-archive or oci-archive named *.imgx in the
// incoming directory fails (quarantined) whatever the policy, through the same gate as
// load, and the store is unchanged; the signed bundle beside it loads.
func TestHostileForeignFormatInIncoming(t *testing.T) {
	ctx := context.Background()
	for _, withOptOut := range []bool{false, true} {
		k := newKit(t)
		k.image("app:stable", "v1")
		k.save("good.imgx", nil, "app:stable")
		res, err := k.sender.Resolve(ctx, "app:stable")
		if err != nil {
			t.Fatal(err)
		}
		for name, format := range map[string]archive.Format{"docker.imgx": archive.FormatDockerArchive, "oci.imgx": archive.FormatOCIArchive} {
			f, _ := os.Create(filepath.Join(k.incoming, "incoming", name))
			if _, err := archive.Save(ctx, k.sender, f, []store.Resolved{res}, archive.SaveOptions{Format: format}); err != nil {
				t.Fatal(err)
			}
			f.Close()
		}
		// Make the receiver's store hold something to compare.
		before := testutil.TreeHash(t, k.receiver.Root())
		rep := k.run(func(o *Options) {
			o.Policy.AcceptUnverified = withOptOut
			o.Dir, o.DoneDir, o.FailedDir = "incoming", "", "failed"
		})
		got := strings.Fields(outcomes(rep))
		slices.Sort(got)
		if strings.Join(got, " ") != "docker.imgx=failed good.imgx=loaded oci.imgx=failed" {
			t.Fatalf("opt-out %v: outcomes %s", withOptOut, got)
		}
		for _, it := range rep.Items {
			if it.Outcome == Failed && !strings.Contains(it.Reason, "not an imgx bundle") {
				t.Errorf("%s: reason %q", it.Name, it.Reason)
			}
			if it.Outcome == Loaded && !it.Verified {
				t.Errorf("%s: signed bundle loaded but not reported verified", it.Name)
			}
		}
		if before == testutil.TreeHash(t, k.receiver.Root()) {
			t.Fatal("the good bundle did not load")
		}
	}
}

// TestHostileMisconfiguredPolicyStopsIngest: a threshold above the keys found (the cron
// job whose HOME has no trust directory) stops the run before any bundle is touched.
func TestHostileMisconfiguredPolicyStopsIngest(t *testing.T) {
	k := newKit(t)
	k.image("app:stable", "v1")
	k.save("app.imgx", nil, "app:stable")
	before := testutil.TreeHash(t, k.incoming)
	for _, pol := range []verify.Policy{{Threshold: 2}, {RequireSignature: true}, {Keys: k.policy.Keys, Threshold: 2}} {
		_, err := Run(context.Background(), Options{Store: k.receiver, Policy: pol, Source: k.backend, Dir: "incoming", FailedDir: "failed"})
		if !errors.Is(err, verify.ErrMisconfigured) {
			t.Fatalf("policy %+v: Run = %v, want ErrMisconfigured", pol, err)
		}
	}
	if after := testutil.TreeHash(t, k.incoming); after != before {
		t.Fatal("incoming directory changed")
	}
	if _, err := k.receiver.Resolve(context.Background(), "app:stable"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("loaded under a misconfigured policy")
	}
}
