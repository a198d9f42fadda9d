package ingest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgx/imgx/bundle"
	"github.com/imgx/imgx/image"
	"github.com/imgx/imgx/internal/testutil"
	"github.com/imgx/imgx/ref"
	"github.com/imgx/imgx/store"
	"github.com/imgx/imgx/transport/local"
	"github.com/imgx/imgx/verify"
)

type kit struct {
	t        *testing.T
	sender   *store.Store
	receiver *store.Store
	incoming string
	backend  *local.Backend
	key      *verify.PrivateKey
	policy   verify.Policy
}

func newKit(t *testing.T) *kit {
	t.Helper()
	k := &kit{t: t}
	var err error
	if k.sender, err = store.Open(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if k.receiver, err = store.Open(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	k.incoming = t.TempDir()
	for _, d := range []string{"incoming", "done", "failed"} {
		os.MkdirAll(filepath.Join(k.incoming, d), 0o755)
	}
	if k.backend, err = local.New(k.incoming, local.Options{}); err != nil {
		t.Fatal(err)
	}
	priv, pub, err := verify.GenerateKeyPair([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	if k.key, err = verify.LoadPrivateKey(priv, func() ([]byte, error) { return []byte("pw"), nil }); err != nil {
		t.Fatal(err)
	}
	pk, err := verify.LoadPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	k.policy = verify.Policy{Keys: []verify.PublicKey{pk}}
	return k
}

func (k *kit) image(name, content string) {
	k.t.Helper()
	ctx := context.Background()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "f", Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg})
	tw.Write([]byte(content))
	tw.Close()
	tx, _ := k.sender.Begin(ctx)
	defer tx.Discard()
	desc, err := image.Import(ctx, tx, &buf, image.ImportOptions{Changes: func(c *v1.Config) error { c.Labels = map[string]string{"c": content}; return nil }})
	if err != nil {
		k.t.Fatal(err)
	}
	r, _ := ref.ParseNamed(name)
	tx.Tag(r, desc)
	if err := tx.Commit(ctx); err != nil {
		k.t.Fatal(err)
	}
}

// save writes a bundle into incoming/NAME and returns its base for the next delta.
func (k *kit) save(name string, since *bundle.Base, refs ...string) *bundle.Base {
	k.t.Helper()
	path := filepath.Join(k.incoming, "incoming", name)
	f, err := os.Create(path)
	if err != nil {
		k.t.Fatal(err)
	}
	defer f.Close()
	res, err := bundle.Save(context.Background(), k.sender, refs, f, bundle.SaveOptions{Since: since, Signers: []crypto.Signer{k.key}})
	if err != nil {
		k.t.Fatal(err)
	}
	mb, _ := res.Manifest.Marshal()
	b, _, err := bundle.BaseFromManifest(mb, name)
	if err != nil {
		k.t.Fatal(err)
	}
	return b
}

func (k *kit) run(mod ...func(*Options)) *Report {
	k.t.Helper()
	o := Options{Store: k.receiver, Policy: k.policy, Source: k.backend, Dir: "incoming", DoneDir: "done", FailedDir: "failed"}
	for _, m := range mod {
		m(&o)
	}
	rep, err := Run(context.Background(), o)
	if err != nil {
		k.t.Fatal(err)
	}
	return rep
}

func outcomes(r *Report) string {
	var s []string
	for _, it := range r.Items {
		s = append(s, it.Name+"="+string(it.Outcome))
	}
	return strings.Join(s, " ")
}

func (k *kit) exists(rel string) bool {
	_, err := os.Stat(filepath.Join(k.incoming, rel))
	return err == nil
}

func TestOrderAndIdempotence(t *testing.T) {
	k := newKit(t)
	k.image("app:stable", "v1")
	b1 := k.save("a-night1.imgx", nil, "app:stable")
	k.image("app:stable", "v2")
	// Named so that a plain name sort would put the delta first.
	k.save("0-night2.imgx", b1, "app:stable")

	rep := k.run()
	if got := outcomes(rep); got != "a-night1.imgx=loaded 0-night2.imgx=loaded" {
		t.Fatalf("outcomes: %s", got)
	}
	if !k.exists("done/a-night1.imgx") || !k.exists("done/0-night2.imgx") || k.exists("incoming/a-night1.imgx") {
		t.Error("loaded bundles were not moved to done/")
	}
	r, err := k.receiver.Resolve(context.Background(), "app:stable")
	want, _ := k.sender.Resolve(context.Background(), "app:stable")
	if err != nil || r.Desc.Digest != want.Desc.Digest {
		t.Fatalf("receiver app:stable = %v, %v; want %v", r.Desc.Digest, err, want.Desc.Digest)
	}

	// The same bundle delivered again is skipped, not loaded twice.
	os.Rename(filepath.Join(k.incoming, "done/a-night1.imgx"), filepath.Join(k.incoming, "incoming/again.imgx"))
	rep = k.run()
	if got := outcomes(rep); got != "again.imgx=skipped" {
		t.Fatalf("re-delivery: %s", got)
	}
	if !k.exists("done/again.imgx") {
		t.Error("skipped bundle not moved to done/")
	}
}

func TestDeltaWaitsForBase(t *testing.T) {
	k := newKit(t)
	k.image("app:stable", "v1")
	b1 := k.save("night1.imgx", nil, "app:stable")
	k.image("app:stable", "v2")
	k.save("night2.imgx", b1, "app:stable")
	// The base has not arrived yet.
	os.Rename(filepath.Join(k.incoming, "incoming/night1.imgx"), filepath.Join(k.incoming, "later.tmp"))
	before, _ := k.receiver.Check(context.Background())

	rep := k.run()
	if got := outcomes(rep); got != "night2.imgx=waiting" || !strings.Contains(rep.Items[0].Reason, "night1.imgx") {
		t.Fatalf("outcomes: %s (%s)", got, rep.Items[0].Reason)
	}
	if after, _ := k.receiver.Check(context.Background()); after.Blobs != before.Blobs {
		t.Error("a waiting delta wrote to the store")
	}
	// --strict quarantines it instead.
	rep = k.run(func(o *Options) { o.Strict = true })
	if got := outcomes(rep); got != "night2.imgx=failed" || !k.exists("failed/night2.imgx.reason") {
		t.Fatalf("strict: %s", got)
	}
	if c := rep.Items[0].Code; c != "missing_base" {
		t.Errorf("strict: code %q, want missing_base", c)
	}
	if b := rep.Items[0].Base; b == nil || b.Name != "night1.imgx" || b.Sequence != 0 || b.Digest == "" {
		t.Errorf("strict: base %+v, want night1.imgx, sequence 0, its digest", b)
	}
	os.Rename(filepath.Join(k.incoming, "failed/night2.imgx"), filepath.Join(k.incoming, "incoming/night2.imgx"))
	// The base arrives: both load, base first.
	os.Rename(filepath.Join(k.incoming, "later.tmp"), filepath.Join(k.incoming, "incoming/night1.imgx"))
	rep = k.run()
	if got := outcomes(rep); got != "night1.imgx=loaded night2.imgx=loaded" {
		t.Fatalf("after base arrived: %s", got)
	}
}

func TestCorruptedBundleQuarantined(t *testing.T) {
	k := newKit(t)
	k.image("app:stable", "v1")
	k.image("web:stable", "w1")
	k.save("app.imgx", nil, "app:stable")
	k.save("web.imgx", nil, "web:stable")
	// Flip a byte near the end of app.imgx: a blob no longer matches its digest.
	p := filepath.Join(k.incoming, "incoming/app.imgx")
	data, _ := os.ReadFile(p)
	data[len(data)-600] ^= 0xff
	os.WriteFile(p, data, 0o644)
	// An unsigned bundle from someone else.
	k.image("evil:1", "x")
	f, _ := os.Create(filepath.Join(k.incoming, "incoming/unsigned.imgx"))
	bundle.Save(context.Background(), k.sender, []string{"evil:1"}, f, bundle.SaveOptions{})
	f.Close()

	rep := k.run()
	// The unsigned bundle fails when its head is read, before any bundle loads.
	if got := outcomes(rep); got != "unsigned.imgx=failed app.imgx=failed web.imgx=loaded" {
		t.Fatalf("outcomes: %s", got)
	}
	reason, err := os.ReadFile(filepath.Join(k.incoming, "failed/app.imgx.reason"))
	if err != nil || !strings.Contains(string(reason), "reason: ") {
		t.Fatalf("reason file: %q, %v", reason, err)
	}
	if _, err := k.receiver.Resolve(context.Background(), "app:stable"); !errors.Is(err, store.ErrNotFound) {
		t.Error("corrupted bundle's image reached the store")
	}
	if _, err := k.receiver.Resolve(context.Background(), "evil:1"); !errors.Is(err, store.ErrNotFound) {
		t.Error("unsigned bundle loaded despite a trust policy")
	}
	// The corrupted bundle's blobs that verified stay staged (for a re-sent copy to
	// reuse), and only those: Staged fails on any that does not hash to its name.
	staged := testutil.Staged(t, k.receiver.Root())
	if c, _ := k.receiver.Check(context.Background()); !c.OK() || c.Leftovers != len(staged) {
		t.Errorf("store after failures: %+v, %d verified staged blobs", c, len(staged))
	}
}

func TestSecondIngestExits(t *testing.T) {
	k := newKit(t)
	unlock, ok, err := k.receiver.TryLock("ingest")
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	defer unlock()
	_, err = Run(context.Background(), Options{Store: k.receiver, Source: k.backend})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("Run while locked = %v, want ErrLocked", err)
	}
}

func TestFreeSpaceMakesItWait(t *testing.T) {
	k := newKit(t)
	k.image("app:stable", "v1")
	k.save("app.imgx", nil, "app:stable")
	rep := k.run(func(o *Options) { o.FreeSpace = func(string) (int64, error) { return 10, nil } })
	if got := outcomes(rep); got != "app.imgx=waiting" || !strings.Contains(rep.Items[0].Reason, "free") {
		t.Fatalf("outcomes: %s (%s)", got, rep.Items[0].Reason)
	}
	if !k.exists("incoming/app.imgx") {
		t.Error("a bundle waiting for space was moved")
	}
}
