package main

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/image"
	"github.com/imgx/imgx/internal/testserver"
	"github.com/imgx/imgx/ref"
	"github.com/imgx/imgx/store"
)

// TestNightlySyncOverSSHD runs three nights of the documented cron jobs through a real
// OpenSSH sshd: the sender saves deltas from its state file to sftp://…/incoming, the
// receiver ingests from there. Night 2 adds a top layer to app, night 3 adds a new image
// sharing app's base and leaves web unchanged. The receiver must end with exactly the
// sender's images, and nights 2 and 3 must ship within 5% of the bytes of the new blobs.
func TestNightlySyncOverSSHD(t *testing.T) {
	testserver.RealTests(t)
	sshd := testserver.StartSSHD(t)
	bin := imgxBin(t)
	work := t.TempDir()
	gw := filepath.Join(work, "gateway")
	for _, d := range []string{"incoming", "done", "quarantine"} {
		os.MkdirAll(filepath.Join(gw, d), 0o755)
	}
	sender, receiver := filepath.Join(work, "sender"), filepath.Join(work, "receiver")
	url := fmt.Sprintf("sftp://%s@%s%s", sshd.User, sshd.Addr, gw)
	ssh := []string{"--identity", sshd.Keys.ClientKey, "--known-hosts", sshd.Keys.KnownHosts, "--ssh-config", "none", "--progress", "none"}
	env := append(os.Environ(), "IMGX_PASSWORD=nightly", "SSH_AUTH_SOCK=")
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("imgx %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("keygen", "--output-prefix", filepath.Join(work, "release"))

	s, err := store.Open(sender)
	if err != nil {
		t.Fatal(err)
	}
	base := randomLayer(t, 1, 4<<20)
	put := func(name string, layers ...[]tarFile) {
		t.Helper()
		if err := writeLayered(s, name, layers...); err != nil {
			t.Fatal(err)
		}
	}
	state := filepath.Join(work, "sent.json")
	var shipped []int64
	night := func(n int, newBlobs int64) {
		t.Helper()
		name := fmt.Sprintf("nightly-%d.imgx", n)
		run(append([]string{"--store", sender, "save", "--since-state", state, "--sign-key", filepath.Join(work, "release.key"),
			"app:stable", "web:stable", "worker:stable", "-o", url + "/incoming/" + name}, ssh...)...)
		fi, err := os.Stat(filepath.Join(gw, "incoming", name))
		if err != nil {
			t.Fatal(err)
		}
		shipped = append(shipped, fi.Size())
		out := run(append([]string{"--store", receiver, "ingest", url + "/incoming", "--done", url + "/done",
			"--failed", url + "/quarantine", "--key", filepath.Join(work, "release.pub")}, ssh...)...)
		if !strings.Contains(out, "1 loaded, 0 skipped, 0 waiting, 0 failed") {
			t.Fatalf("night %d ingest:\n%s", n, out)
		}
		if newBlobs > 0 {
			ratio := float64(fi.Size()) / float64(newBlobs)
			t.Logf("night %d: shipped %d bytes for %d bytes of new blobs (%.3f×)", n, fi.Size(), newBlobs, ratio)
			if ratio > 1.05 {
				t.Errorf("night %d shipped %.1f%% more than its new blobs", n, (ratio-1)*100)
			}
		} else {
			t.Logf("night %d: shipped %d bytes (full bundle)", n, fi.Size())
		}
	}

	// Night 1: everything.
	put("app:stable", base, randomLayer(t, 2, 2<<20))
	put("web:stable", randomLayer(t, 3, 3<<20))
	put("worker:stable", base)
	night(1, 0)
	before := blobSet(t, s)

	// Night 2: app gets a new top layer.
	put("app:stable", base, randomLayer(t, 2, 2<<20), randomLayer(t, 4, 3<<20))
	night(2, newBytes(t, s, before))
	before = blobSet(t, s)

	// Night 3: worker becomes a new image on app's base; web unchanged.
	put("worker:stable", base, randomLayer(t, 5, 2<<20))
	night(3, newBytes(t, s, before))

	// The receiver has exactly the sender's images.
	for _, name := range []string{"app:stable", "web:stable", "worker:stable"} {
		want := strings.TrimSpace(run("--store", sender, "inspect", "--format", "{{ .Digest }}", name))
		got := strings.TrimSpace(run("--store", receiver, "inspect", "--format", "{{ .Digest }}", name))
		if got != want {
			t.Errorf("%s: receiver has %s, sender %s", name, got, want)
		}
	}
	if out := run("--store", receiver, "check"); !strings.Contains(out, " 0 problems") {
		t.Errorf("receiver check:\n%s", out)
	}
	// Night 4: nothing changed, nothing shipped.
	out := run(append([]string{"--store", sender, "save", "--since-state", state, "app:stable", "web:stable", "worker:stable",
		"-o", url + "/incoming/nightly-4.imgx"}, ssh...)...)
	if !strings.Contains(out, "Nothing changed") {
		t.Errorf("night 4: %s", out)
	}
	t.Logf("bytes shipped per night: %v", shipped)

	// Names taken in done/ and quarantine/ on the server: the next file goes to NAME-2.imgx
	// with its own reason, and the report names it as given on the command line.
	data, err := os.ReadFile(filepath.Join(gw, "done", "nightly-1.imgx"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(gw, "incoming", "nightly-1.imgx"), data, 0o644)
	os.WriteFile(filepath.Join(gw, "quarantine", "bad.imgx"), []byte("earlier"), 0o644)
	os.WriteFile(filepath.Join(gw, "quarantine", "bad.imgx.reason"), []byte("earlier reason"), 0o644)
	os.WriteFile(filepath.Join(gw, "incoming", "bad.imgx"), []byte("not a bundle"), 0o644)
	cmd := exec.Command(bin, append([]string{"--store", receiver, "ingest", url + "/incoming", "--done", url + "/done",
		"--failed", url + "/quarantine", "--key", filepath.Join(work, "release.pub")}, ssh...)...)
	cmd.Env = env
	outb, _ := cmd.CombinedOutput()
	out = string(outb)
	for _, want := range []string{"-> " + url + "/done/nightly-1-2.imgx", "-> " + url + "/quarantine/bad-2.imgx"} {
		if !strings.Contains(out, want) {
			t.Errorf("ingest of taken names: want %q in\n%s", want, out)
		}
	}
	if r, err := os.ReadFile(filepath.Join(gw, "quarantine", "bad.imgx.reason")); string(r) != "earlier reason" {
		t.Errorf("the earlier reason was replaced: %q, %v", r, err)
	}
	if r, err := os.ReadFile(filepath.Join(gw, "quarantine", "bad-2.imgx.reason")); err != nil || !strings.Contains(string(r), "reason: ") {
		t.Errorf("bad-2.imgx.reason: %q, %v", r, err)
	}
}

type tarFile struct {
	name string
	data []byte
}

func randomLayer(t *testing.T, seed int64, size int) []tarFile {
	b := make([]byte, size)
	rand.New(rand.NewSource(seed)).Read(b)
	return []tarFile{{name: fmt.Sprintf("layer%d/data", seed), data: b}}
}

// writeLayered stores a multi-layer image (uncompressed layers, fixed creation time).
func writeLayered(s *store.Store, name string, layers ...[]tarFile) error {
	ctx := context.Background()
	tx, err := s.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Discard()
	cfg := &v1.ConfigFile{OS: "linux", Architecture: "amd64", Created: v1.Time{Time: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}, RootFS: v1.RootFS{Type: "layers"}}
	var descs []ocispec.Descriptor
	for _, files := range layers {
		d, diff, err := image.WriteLayer(ctx, tx, image.Uncompressed, tarOf(files))
		if err != nil {
			return err
		}
		descs = append(descs, d)
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, v1.Hash{Algorithm: "sha256", Hex: diff.Encoded()})
		cfg.History = append(cfg.History, v1.History{Created: cfg.Created, CreatedBy: "test layer"})
	}
	md, err := image.WriteImage(ctx, tx, cfg, descs)
	if err != nil {
		return err
	}
	r, _ := ref.ParseNamed(name)
	tx.Tag(r, md)
	return tx.Commit(ctx)
}

// tarOf writes files as a layer tar.
func tarOf(files []tarFile) func(io.Writer) error {
	return func(w io.Writer) error {
		tw := tar.NewWriter(w)
		for _, f := range files {
			tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), Typeflag: tar.TypeReg})
			tw.Write(f.data)
		}
		return tw.Close()
	}
}

func blobSet(t *testing.T, s *store.Store) map[digest.Digest]int64 {
	out := map[digest.Digest]int64{}
	ents, _ := s.Entries()
	for _, e := range ents {
		var walk func(d ocispec.Descriptor)
		walk = func(d ocispec.Descriptor) {
			out[d.Digest] = d.Size
			if b, err := s.ReadBlob(context.Background(), d); err == nil && strings.Contains(d.MediaType, "manifest") {
				var m ocispec.Manifest
				json.Unmarshal(b, &m)
				walk(m.Config)
				for _, l := range m.Layers {
					walk(l)
				}
			}
		}
		walk(e.Desc)
	}
	return out
}

func newBytes(t *testing.T, s *store.Store, before map[digest.Digest]int64) int64 {
	var n int64
	for d, size := range blobSet(t, s) {
		if _, ok := before[d]; !ok {
			n += size
		}
	}
	return n
}
