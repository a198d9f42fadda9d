package registry_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/imgx/imgx/registry"
)

func TestPlanAndPushAll(t *testing.T) {
	src := newRegistry(t, nil)
	app := digestOf(t, seedImage(t, src+"/src/app:1", 2))
	web := digestOf(t, seedImage(t, src+"/src/web:2", 1))
	s := newStore(t)
	if _, err := registry.PlanAll(s, src+"/mirror"); err == nil || !strings.Contains(err.Error(), "no tagged images") {
		t.Fatalf("PlanAll of an empty store: %v", err)
	}
	for _, in := range []string{src + "/src/web:2", src + "/src/app:1"} {
		if _, err := registry.Pull(ctx, s, in, registry.PullOptions{Options: opts()}); err != nil {
			t.Fatal(err)
		}
	}
	// An untagged image (pulled by digest) is skipped: it has no repository path to keep.
	other := digestOf(t, seedImage(t, src+"/src/other:1", 1))
	if _, err := registry.Pull(ctx, s, src+"/src/other@"+other, registry.PullOptions{Options: opts()}); err != nil {
		t.Fatal(err)
	}

	if _, err := registry.PlanAll(s, "nohost"); !errors.Is(err, registry.ErrPrefix) {
		t.Fatalf("PlanAll with prefix nohost: %v, want ErrPrefix", err)
	}
	dst := newRegistry(t, nil)
	plan, err := registry.PlanAll(s, dst+"/mirror/")
	if err != nil {
		t.Fatal(err)
	}
	if plan.Skipped != 1 || len(plan.Jobs) != 2 || plan.Jobs[0].Destination != dst+"/mirror/src/app:1" || plan.Jobs[1].Destination != dst+"/mirror/src/web:2" {
		t.Fatalf("plan: %+v", plan)
	}

	// One job that cannot succeed (nothing listens there): the others still go.
	plan.Jobs = append(plan.Jobs, registry.PushJob{Source: plan.Jobs[0].Source, Destination: "127.0.0.1:1/mirror/app:1"})
	var seen []string
	res, err := registry.PushAll(ctx, s, plan, opts(), func(o registry.PushOutcome) { seen = append(seen, o.Destination) })
	if err != nil {
		t.Fatal(err)
	}
	if res.Pushed != 2 || res.Failed != 1 || res.Skipped != 1 || len(seen) != 3 || res.Outcomes[2].Err == nil || res.Err() != res.Outcomes[2].Err {
		t.Fatalf("PushAll: %+v, err %v, seen %v", res, res.Err(), seen)
	}
	if res.UploadedBytes != res.Outcomes[0].Result.UploadedBytes+res.Outcomes[1].Result.UploadedBytes || res.UploadedBytes == 0 {
		t.Errorf("uploaded %d bytes, outcomes say %d + %d", res.UploadedBytes, res.Outcomes[0].Result.UploadedBytes, res.Outcomes[1].Result.UploadedBytes)
	}
	if got := remoteDigest(t, dst+"/mirror/src/app:1"); got != app {
		t.Errorf("mirror app:1 = %s, want %s", got, app)
	}
	if got := remoteDigest(t, dst+"/mirror/src/web:2"); got != web {
		t.Errorf("mirror web:2 = %s, want %s", got, web)
	}
	// Two failures: the error counts them and wraps the first.
	plan.Jobs = append(plan.Jobs, plan.Jobs[2])
	res, _ = registry.PushAll(ctx, s, plan, opts(), nil)
	if err := res.Err(); err == nil || !strings.Contains(err.Error(), "2 of 4 images failed") || !errors.Is(err, res.Outcomes[2].Err) {
		t.Fatalf("two failures: %v", err)
	}
}
