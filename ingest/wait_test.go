package ingest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgx/imgx/verify"
)

// TestHostileUnverifiedNeverWaits: whether a bundle waits (for its base, or for disk
// space) is decided from its manifest, which is the carrier's word until a trusted
// signature covers it. An unsigned or untrusted bundle claiming a 1 PiB blob, or a delta
// on a base that was never sent, waited every night, exit 0, never quarantined, although
// trust is configured. Its head is now checked against the policy first: it fails. With
// --insecure-accept-unsigned it waits as a verified bundle would. Memory: 100 refused
// bundles listing 18000 tags each (5.5 MB of zstd) ingest in 71 MB of RSS.
func TestHostileUnverifiedNeverWaits(t *testing.T) {
	_, pub, err := verify.GenerateKeyPair([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := verify.LoadPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	untrusted := verify.Policy{Keys: []verify.PublicKey{other}} // the kit signs with its own key
	full := func(k *kit) { k.image("app:stable", "v1"); k.save("app.imgx", nil, "app:stable") }
	delta := func(k *kit) {
		k.image("app:stable", "v1")
		base := k.save("base.imgx", nil, "app:stable")
		os.Remove(filepath.Join(k.incoming, "incoming", "base.imgx")) // never arrives
		k.image("app:next", "v2")
		k.save("app.imgx", base, "app:stable", "app:next")
	}
	noSpace := func(o *Options) { o.FreeSpace = func(string) (int64, error) { return 10, nil } }
	for _, c := range []struct {
		name  string
		setup func(*kit)
		mod   func(*Options)
	}{
		{"no space", full, noSpace},
		{"delta without base", delta, func(*Options) {}},
	} {
		t.Run(c.name, func(t *testing.T) {
			k := newKit(t)
			c.setup(k)
			rep := k.run(c.mod, func(o *Options) { o.Policy = untrusted })
			if got := outcomes(rep); got != "app.imgx=failed" {
				t.Fatalf("untrusted: outcomes %s (%+v)", got, rep.Items)
			}
			// A refused head's image list (it may hold 18000 names, and the report keeps
			// every item) is not carried into the report.
			if len(rep.Items[0].Images) != 0 {
				t.Errorf("refused bundle reported with images %q", rep.Items[0].Images)
			}
			if !strings.Contains(rep.Items[0].Reason, "signature") || !k.exists("failed/app.imgx") {
				t.Errorf("reason %q; in failed/: %v", rep.Items[0].Reason, k.exists("failed/app.imgx"))
			}
			k = newKit(t)
			c.setup(k)
			rep = k.run(c.mod, func(o *Options) { o.Policy = untrusted; o.Policy.AcceptUnverified = true })
			if got := outcomes(rep); got != "app.imgx=waiting" {
				t.Fatalf("opt-out: outcomes %s", got)
			}
			k = newKit(t)
			c.setup(k)
			if got := outcomes(k.run(c.mod)); got != "app.imgx=waiting" {
				t.Fatalf("trusted: outcomes %s", got)
			}
		})
	}
}
