package ingest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgx/imgx/imagepolicy"
	"github.com/imgx/imgx/internal/cosigntest"
	"github.com/imgx/imgx/store"
	"github.com/imgx/imgx/verify"
)

// TestHostileIngestImagePolicy: under an image-signature policy, ingest quarantines a
// bundle whose image carries no signature by a trusted cosign key (the reason file names
// the image and why) and loads the one whose image is signed; the refused bundle's
// image never reaches the store.
func TestHostileIngestImagePolicy(t *testing.T) {
	ctx := context.Background()
	k := newKit(t)
	privPEM, pubPEM, err := verify.GenerateKeyPair([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	cosignKey, _ := verify.LoadPrivateKey(privPEM, verify.StaticPassword([]byte("pw")))
	pubFile := filepath.Join(t.TempDir(), "cosign.pub")
	os.WriteFile(pubFile, pubPEM, 0o644)

	k.image("app:1", "signed")
	k.image("evil:1", "unsigned")
	app, _ := k.sender.Resolve(ctx, "app:1")
	p := cosigntest.Payload(app.Desc.Digest, "docker.io/library/app")
	cosigntest.Attach(t, k.sender, app.Desc.Digest, store.KindSignature,
		cosigntest.Layer{MediaType: cosigntest.SimpleSigning, Data: p, Annotations: map[string]string{cosigntest.SigAnnotation: cosigntest.Sign(t, cosignKey, p)}})
	k.save("a-app.imgx", nil, "app:1")
	k.save("b-evil.imgx", nil, "evil:1")

	pol := &imagepolicy.Policy{}
	if err := pol.AddKey("*=" + pubFile); err != nil {
		t.Fatal(err)
	}
	rep := k.run(func(o *Options) { o.Images = pol })
	if got := outcomes(rep); got != "a-app.imgx=loaded b-evil.imgx=failed" {
		t.Fatalf("outcomes: %s", got)
	}
	reason, _ := os.ReadFile(filepath.Join(k.incoming, "failed/b-evil.imgx.reason"))
	if !strings.Contains(string(reason), "evil:1") || !strings.Contains(string(reason), "no cosign signature") {
		t.Errorf("reason file does not name the image and why:\n%s", reason)
	}
	if _, err := k.receiver.Resolve(ctx, "evil:1"); !errors.Is(err, store.ErrNotFound) {
		t.Error("the refused bundle's image reached the store")
	}
	if as, _ := k.receiver.ArtifactsOf(ctx, app.Desc); len(as) != 1 || as[0].Signer == "" {
		t.Errorf("app:1's signature: %+v, want one, with its signer", as)
	}
}
