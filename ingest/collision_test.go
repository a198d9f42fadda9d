package ingest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgx/imgx/transport/local"
)

// TestCollisionNumbered: a bundle whose name is already taken in --done or --failed goes
// to NAME-2.imgx (then -3, …), which still matches *.imgx, with its own reason file; the
// earlier file and reason stay as they were, and the report names the real destination
// as the caller spells the directory.
func TestCollisionNumbered(t *testing.T) {
	k := newKit(t)
	labels := func(o *Options) { o.DoneName, o.FailedName = "/media/usb/done", "sftp://gw/failed/" }

	k.image("app:stable", "v1")
	k.save("app.imgx", nil, "app:stable")
	if rep := k.run(labels); rep.Items[0].MovedTo != "/media/usb/done/app.imgx" {
		t.Fatalf("first: moved to %q", rep.Items[0].MovedTo)
	}
	k.image("app:stable", "v2")
	k.save("app.imgx", nil, "app:stable")
	rep := k.run(labels)
	if got := outcomes(rep); got != "app.imgx=loaded" {
		t.Fatalf("second: %s", got)
	}
	if it := rep.Items[0]; it.MovedTo != "/media/usb/done/app-2.imgx" || len(it.Warnings) != 0 {
		t.Errorf("second: moved to %q, warnings %q; want /media/usb/done/app-2.imgx", it.MovedTo, it.Warnings)
	}
	if !k.exists("done/app.imgx") || !k.exists("done/app-2.imgx") {
		t.Error("done/ should hold app.imgx and app-2.imgx")
	}

	// Failures: the first reason is kept, each copy has its own; a reason left without
	// its bundle (an operator moved it back to retry) keeps its slot.
	reason := func(rel string) string {
		b, err := os.ReadFile(filepath.Join(k.incoming, "failed", rel))
		if err != nil {
			t.Fatalf("reason %s: %v", rel, err)
		}
		return string(b)
	}
	os.WriteFile(filepath.Join(k.incoming, "failed", "bad-3.imgx.reason"), []byte("kept\n"), 0o644)
	want := []string{"sftp://gw/failed/bad.imgx", "sftp://gw/failed/bad-2.imgx", "sftp://gw/failed/bad-4.imgx"}
	for i, w := range want {
		os.WriteFile(filepath.Join(k.incoming, "incoming", "bad.imgx"), []byte("not a bundle "+w), 0o644)
		rep := k.run(labels)
		if it := rep.Items[0]; it.Outcome != Failed || it.MovedTo != w || len(it.Warnings) != 0 {
			t.Fatalf("failure %d: %s moved to %q, warnings %q; want %s", i+1, it.Outcome, it.MovedTo, it.Warnings, w)
		}
		base := filepath.Base(w)
		if r := reason(base + ".reason"); !strings.Contains(r, "reason: ") {
			t.Errorf("%s.reason: %q", base, r)
		}
	}
	if r := reason("bad-3.imgx.reason"); r != "kept\n" {
		t.Errorf("a reason file without its bundle was overwritten: %q", r)
	}
	for _, n := range []string{"bad.imgx", "bad-2.imgx", "bad-4.imgx"} {
		data, _ := os.ReadFile(filepath.Join(k.incoming, "failed", n))
		if r := reason(n + ".reason"); !strings.Contains(r, "bundle: bad.imgx") || !strings.Contains(string(data), "sftp://gw/failed/"+n) {
			t.Errorf("%s: reason %q for bundle %q", n, r, data)
		}
	}
}

// TestCollisionSplitSet: a split bundle (volumes NAME.001, … and NAME.volumes) moved onto a
// taken name is renamed as a whole set, NAME-2.imgx.001, … with its index; a stray volume of
// the next name makes it skip that name rather than leave the set half moved.
func TestCollisionSplitSet(t *testing.T) {
	k := newKit(t)
	split, err := local.New(k.incoming, local.Options{SplitSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	resplit := func(name string) {
		p := filepath.Join(k.incoming, "incoming", name)
		data, _ := os.ReadFile(p)
		os.Remove(p)
		up, err := split.Create(context.Background(), "incoming/"+name)
		if err != nil {
			t.Fatal(err)
		}
		up.Write(data)
		if err := up.Commit(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(p + ".002"); err != nil {
			t.Fatalf("not split: %v", err)
		}
	}
	k.image("app:stable", randomText(t, 20000))
	k.save("app.imgx", nil, "app:stable")
	resplit("app.imgx")
	k.run()
	k.image("app:stable", randomText(t, 20000))
	k.save("app.imgx", nil, "app:stable")
	resplit("app.imgx")
	os.WriteFile(filepath.Join(k.incoming, "done", "app-2.imgx.002"), []byte("stray"), 0o644)

	rep := k.run()
	if it := rep.Items[0]; it.Outcome != Loaded || it.MovedTo != "done/app-3.imgx" || len(it.Warnings) != 0 {
		t.Fatalf("%s moved to %q, warnings %q; want done/app-3.imgx", it.Outcome, it.MovedTo, it.Warnings)
	}
	for _, n := range []string{"app.imgx.volumes", "app.imgx.001", "app.imgx.002", "app-3.imgx.volumes", "app-3.imgx.001", "app-3.imgx.002"} {
		if !k.exists("done/" + n) {
			t.Errorf("done/%s missing", n)
		}
	}
	for _, n := range []string{"done/app-2.imgx.001", "done/app-2.imgx.volumes", "incoming/app.imgx.001", "incoming/app.imgx.volumes"} {
		if k.exists(n) {
			t.Errorf("%s left behind", n)
		}
	}
	if data, _ := os.ReadFile(filepath.Join(k.incoming, "done", "app-2.imgx.002")); string(data) != "stray" {
		t.Errorf("stray volume changed: %q", data)
	}
	if fi, err := split.Stat(context.Background(), "done/app-3.imgx"); err != nil || fi.Size == 0 {
		t.Errorf("done/app-3.imgx as a set: %+v, %v", fi, err)
	}
}

// randomText is n hex digits that do not compress to less than half.
func randomText(t *testing.T, n int) string {
	b := make([]byte, n/2)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
