package store

import (
	"context"
	"os/exec"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/internal/testserver"
)

// TestArtifactsFollowTheirSubject pins the store's artifact model: artifact entries are
// not images, they survive prune while their subject is kept (also an artifact of an
// artifact), rmi with prune removes them with their image, check walks them, and skopeo
// still reads the store.
func TestArtifactsFollowTheirSubject(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	tx, _ := s.Begin(ctx)
	app1 := stageImage(t, tx, []byte("layer of app 1"))
	app2 := stageImage(t, tx, []byte("layer of app 2"))
	sig1 := stageImage(t, tx, []byte("signature of app 1"))
	att1 := stageImage(t, tx, []byte("attestation of app 1"))
	sigOfAtt := stageImage(t, tx, []byte("signature of the attestation"))
	sig2 := stageImage(t, tx, []byte("signature of app 2"))
	tx.Tag(mustRef(t, "app:1"), app1)
	tx.Tag(mustRef(t, "app:2"), app2)
	for _, a := range []Artifact{
		{Subject: app1.Digest, Kind: KindSignature, Desc: sig1},
		{Subject: app1.Digest, Kind: KindAttestation, Desc: att1},
		{Subject: att1.Digest, Kind: KindSignature, Desc: sigOfAtt},
		{Subject: app2.Digest, Kind: KindSignature, Desc: sig2},
		{Subject: app2.Digest, Kind: KindSignature, Desc: sig2}, // twice: recorded once
	} {
		if err := tx.AddArtifact(a); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.AddArtifact(Artifact{Subject: app1.Digest, Kind: "bogus", Desc: sig1}); err == nil {
		t.Fatal("AddArtifact accepted an unknown kind")
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	ents, _ := s.Entries()
	if len(ents) != 2 {
		t.Fatalf("Entries lists %d, want the 2 images only: %+v", len(ents), ents)
	}
	all, _ := s.Artifacts()
	if len(all) != 4 {
		t.Fatalf("Artifacts lists %d, want 4: %+v", len(all), all)
	}
	of1, err := s.ArtifactsOf(ctx, app1)
	if err != nil || len(of1) != 3 {
		t.Fatalf("ArtifactsOf(app:1) = %+v, %v; want the signature, the attestation and its signature", of1, err)
	}
	if rep, err := s.Check(ctx); err != nil || !rep.OK() || rep.Artifacts != 4 || rep.Orphans != 0 || rep.Unreachable != 0 {
		t.Fatalf("check: %+v, %v", rep, err)
	}
	// Retagging keeps the artifacts.
	if err := s.Tag(ctx, mustRef(t, "app:3"), app1); err != nil {
		t.Fatal(err)
	}
	if rep, err := s.Prune(ctx); err != nil || len(rep.Blobs) != 0 || rep.Artifacts != 0 {
		t.Fatalf("prune with every subject kept removed %+v, %v", rep, err)
	}

	t.Run("skopeo reads the store", func(t *testing.T) {
		testserver.RequireTool(t, "skopeo", "apt-get install skopeo")
		out := t.TempDir()
		if b, err := exec.Command("skopeo", "copy", "--preserve-digests", "oci:"+s.Root()+":app:2", "oci:"+out+":x").CombinedOutput(); err != nil {
			t.Fatalf("skopeo cannot read a store with artifacts: %v\n%s", err, b)
		}
	})

	// Removing app:1 (both tags) removes its three artifacts and their blobs.
	removed, rep, err := s.Remove(ctx, func(e Entry) bool { return e.Desc.Digest == app1.Digest }, true)
	if err != nil || len(removed) != 2 {
		t.Fatalf("remove app:1: %v, %v", removed, err)
	}
	if rep.Artifacts != 3 {
		t.Fatalf("remove app:1 removed %d artifacts, want 3", rep.Artifacts)
	}
	for _, d := range []ocispec.Descriptor{app1, sig1, att1, sigOfAtt} {
		if s.Has(d.Digest) {
			t.Errorf("%s still stored after rmi", d.Digest)
		}
	}
	all, _ = s.Artifacts()
	if len(all) != 1 || all[0].Desc.Digest != sig2.Digest || !s.Has(sig2.Digest) {
		t.Fatalf("after rmi app:1 artifacts are %+v, want only app:2's signature", all)
	}
	// Without prune, the artifacts stay until prune (like the blobs).
	if _, _, err := s.Remove(ctx, func(e Entry) bool { return e.Desc.Digest == app2.Digest }, false); err != nil {
		t.Fatal(err)
	}
	if rep, _ := s.Check(ctx); rep.Orphans != 1 || !rep.OK() {
		t.Fatalf("check after rmi --no-prune: %+v, want one orphan artifact and no problem", rep)
	}
	if rep, err := s.Prune(ctx); err != nil || rep.Artifacts != 1 || s.Has(sig2.Digest) {
		t.Fatalf("prune of the orphan: %+v, %v", rep, err)
	}
}
