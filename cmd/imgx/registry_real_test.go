package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/image"
	"github.com/imgx/imgx/internal/testserver"
	"github.com/imgx/imgx/internal/testutil"
	"github.com/imgx/imgx/ref"
	"github.com/imgx/imgx/store"
)

// TestRegistryRealE2E runs imgx push and pull against real distribution registries
// (Debian's docker-registry): one on plain HTTP, one with TLS and htpasswd authentication.
// It checks digests with skopeo, cross-repository mounts during push --all, platform
// selection, credentials from a Docker config and a credential helper, and that a
// registry serving corrupted bytes leaves the store unchanged.
func TestRegistryRealE2E(t *testing.T) {
	testserver.RequireTool(t, "skopeo", "apt-get install skopeo")
	plain := testserver.StartRegistry(t, testserver.RegistryOptions{})
	secure := testserver.StartRegistry(t, testserver.RegistryOptions{TLS: true, User: "site", Password: "reg-pass"})
	bin := imgxBin(t)
	work := t.TempDir()
	sender, receiver := filepath.Join(work, "sender"), filepath.Join(work, "receiver")
	home := filepath.Join(work, "home")
	runner := newImgxRunner(t, bin, home)
	run := runner.run
	skopeoDigest := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("skopeo", append([]string{"inspect", "--raw"}, args...)...).Output()
		if err != nil {
			t.Fatalf("skopeo inspect %v: %v", args, err)
		}
		sum := sha256.Sum256(out)
		return "sha256:" + hex.EncodeToString(sum[:])
	}

	s, err := store.Open(sender)
	if err != nil {
		t.Fatal(err)
	}
	base := randomLayer(t, 1, 2<<20)
	for _, err := range []error{
		writeLayered(s, "app:1", base, randomLayer(t, 2, 512<<10)),
		writeLayered(s, "example/web:2", base, randomLayer(t, 3, 256<<10)),
		writeMulti(s, "example/multi:1", base),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	digests := storeDigests(t, s)

	// push --all to the plain registry: --insecure needed, then every image with its digest.
	out := run(false, "--store", sender, "push", "--all", plain.Addr+"/mirror", "--progress", "none")
	if !strings.Contains(out, "--insecure") {
		t.Errorf("plain HTTP refusal without a hint:\n%s", out)
	}
	var sum pushSummary
	out = run(true, "--store", sender, "push", "--insecure", "--all", plain.Addr+"/mirror", "--json", "--progress", "none")
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if sum.Pushed != 3 || sum.Failed != 0 {
		t.Fatalf("push --all: %s", out)
	}
	mounted, uploaded := 0, int64(0)
	for _, im := range sum.Images {
		name := strings.TrimPrefix(im.Destination, plain.Addr+"/mirror/")
		want := digests[strings.Replace(name, "library/", "", 1)]
		if want == "" || im.Digest.String() != want {
			t.Errorf("%s: pushed %s, store has %q", im.Destination, im.Digest, want)
		}
		if got := skopeoDigest("--tls-verify=false", "docker://"+im.Destination); got != want {
			t.Errorf("skopeo sees %s at %s, imgx reported %s", got, im.Destination, want)
		}
		mounted += im.Mounted
		uploaded += im.UploadedBytes
	}
	// The 2 MiB base layer is in all three repositories: uploaded once, mounted twice.
	if mounted < 2 {
		t.Errorf("push --all mounted %d blobs, want the shared base mounted into 2 repositories: %s", mounted, out)
	}
	if uploaded >= 2*(2<<20) {
		t.Errorf("push --all uploaded %d bytes: the shared base went more than once", uploaded)
	}

	// A later run mounts the shared base into a new repository: imgx remembers in the
	// store where it pushed each blob.
	var one pushJSON
	out = run(true, "--store", sender, "push", "--insecure", "--json", "--progress", "none", "example/web:2", plain.Addr+"/elsewhere/web:2")
	json.Unmarshal([]byte(out), &one)
	if one.Mounted < 1 || one.UploadedBytes >= 2<<20 {
		t.Errorf("a push to a new repository in a later run did not mount the shared base: %s", out)
	}

	// A second push --all sends nothing.
	out = run(true, "--store", sender, "push", "--insecure", "--all", plain.Addr+"/mirror", "--json", "--progress", "none")
	sum = pushSummary{}
	json.Unmarshal([]byte(out), &sum)
	if sum.UploadedBytes != 0 || sum.Pushed != 3 {
		t.Errorf("second push --all: %s", out)
	}

	// Pull everything into a second store: same digests.
	for _, n := range []string{"library/app:1", "example/web:2", "example/multi:1"} {
		run(true, "--store", receiver, "pull", "--insecure", "--progress", "none", plain.Addr+"/mirror/"+n)
	}
	r, err := store.Open(receiver)
	if err != nil {
		t.Fatal(err)
	}
	got := storeDigests(t, r)
	for n, d := range digests {
		if strings.HasPrefix(n, "docker.io/") {
			continue
		}
		full := plain.Addr + "/mirror/" + n
		if !strings.Contains(n, "/") {
			full = plain.Addr + "/mirror/library/" + n
		}
		if got[full] != d {
			t.Errorf("receiver has %s = %q, sender %s", full, got[full], d)
		}
	}
	if rep, err := r.Check(context.Background()); err != nil || !rep.OK() {
		t.Fatalf("receiver check: %v %+v", err, rep)
	}

	// Images written to the registry by skopeo (another client) pull with their digests.
	for _, n := range []string{"app:1", "example/multi:1"} {
		dst := plain.Addr + "/by-skopeo/" + strings.TrimPrefix(n, "example/")
		cmd := exec.Command("skopeo", "copy", "-q", "--all", "--preserve-digests", "--dest-tls-verify=false", "oci:"+sender+":"+n, "docker://"+dst)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("skopeo copy %s: %v\n%s", n, err, out)
		}
		var pr pullJSON
		out := run(true, "--store", filepath.Join(work, "from-skopeo"), "pull", "--insecure", "--progress", "none", "--json", dst)
		json.Unmarshal([]byte(out), &pr)
		if pr.Digest.String() != digests[n] {
			t.Errorf("skopeo pushed %s; imgx pulled %s, want %s", n, pr.Digest, digests[n])
		}
	}

	// Platform selection from the index.
	var pr pullJSON
	out = run(true, "--store", filepath.Join(work, "arm"), "pull", "--insecure", "--progress", "none", "--json", "--platform", "linux/arm64", plain.Addr+"/mirror/example/multi:1")
	json.Unmarshal([]byte(out), &pr)
	if pr.Digest.String() == digests["example/multi:1"] || len(pr.Platforms) != 1 || pr.Platforms[0] != "linux/arm64/v8" || pr.Fetched != 3 {
		t.Errorf("one platform: %s", out)
	}
	pr = pullJSON{}
	out = run(true, "--store", filepath.Join(work, "two"), "pull", "--insecure", "--progress", "none", "--json", "--platform", "linux/arm64", "--platform", "linux/amd64", plain.Addr+"/mirror/example/multi:1")
	json.Unmarshal([]byte(out), &pr)
	if !pr.Trimmed || len(pr.Platforms) != 2 || pr.RemoteDigest.String() != digests["example/multi:1"] {
		t.Errorf("two platforms: %s", out)
	}

	// The TLS registry with authentication: CA, then credentials, are required.
	dst := secure.Addr + "/site/app:1"
	out = run(false, "--store", sender, "push", "--progress", "none", "app:1", dst)
	if !strings.Contains(out, "--ca-cert") {
		t.Errorf("untrusted certificate without a --ca-cert hint:\n%s", out)
	}
	out = run(false, "--store", sender, "push", "--progress", "none", "--ca-cert", secure.CAFile, "app:1", dst)
	if !strings.Contains(out, "authentication failed") || !strings.Contains(out, "docker login "+secure.Addr) {
		t.Errorf("missing credentials:\n%s", out)
	}
	// imgx login: a wrong password stores nothing; the right one goes to the Docker config.
	login := func(wantOK bool, pw string) string {
		t.Helper()
		return runner.runInput(wantOK, pw+"\n", "login", "--ca-cert", secure.CAFile, "-u", "site", "--password-stdin", secure.Addr)
	}
	if out := login(false, "nope"); !strings.Contains(out, "nothing was stored") {
		t.Errorf("bad login:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(home, "docker", "config.json")); err == nil {
		t.Error("a failed login wrote config.json")
	}
	if out := login(true, "reg-pass"); !strings.Contains(out, "Login succeeded") || !strings.Contains(out, "not encrypted") {
		t.Errorf("login:\n%s", out)
	}
	out = run(true, "--store", sender, "push", "--progress", "none", "--ca-cert", secure.CAFile, "app:1", dst)
	if !strings.Contains(out, digests["app:1"]) {
		t.Errorf("push with credentials:\n%s", out)
	}
	certDir := filepath.Join(work, "certs")
	os.MkdirAll(certDir, 0o755)
	if ca, err := os.ReadFile(secure.CAFile); err != nil || os.WriteFile(filepath.Join(certDir, "ca.crt"), ca, 0o644) != nil {
		t.Fatal("copy CA", err)
	}
	// skopeo finds the credentials imgx login stored.
	if d := skopeoDigest("--cert-dir", certDir, "--authfile", filepath.Join(home, "docker", "config.json"), "docker://"+dst); d != digests["app:1"] {
		t.Errorf("skopeo sees %s at %s", d, dst)
	}

	// A credential helper, as Docker's credsStore: docker-credential-NAME on PATH.
	helperDir := filepath.Join(work, "bin")
	os.MkdirAll(helperDir, 0o755)
	os.WriteFile(filepath.Join(helperDir, "docker-credential-imgxtest"), []byte(
		"#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread server\necho '{\"ServerURL\":\"'$server'\",\"Username\":\"site\",\"Secret\":\"reg-pass\"}'\n"), 0o755)
	run(true, "logout", secure.Addr)
	if b, _ := os.ReadFile(filepath.Join(home, "docker", "config.json")); strings.Contains(string(b), base64.StdEncoding.EncodeToString([]byte("site:reg-pass"))) {
		t.Errorf("logout left the credentials: %s", b)
	}
	run(false, "--store", sender, "push", "--progress", "none", "--ca-cert", secure.CAFile, "app:1", dst)
	writeDockerConfig(t, filepath.Join(home, "docker"), map[string]any{"credsStore": "imgxtest"})
	runner.env = append(runner.env, "PATH="+helperDir+":"+os.Getenv("PATH"))
	run(true, "--store", filepath.Join(work, "helper"), "pull", "--progress", "none", "--ca-cert", secure.CAFile, dst)

	// A registry that serves corrupted bytes: flip a byte of app:1's top layer on its disk.
	app, err := s.Resolve(context.Background(), "app:1")
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := s.ReadBlob(context.Background(), app.Desc)
	var m ocispec.Manifest
	json.Unmarshal(mb, &m)
	top := m.Layers[1].Digest.Encoded()
	victim := filepath.Join(plain.Root, "docker/registry/v2/blobs/sha256", top[:2], top, "data")
	b, err := os.ReadFile(victim)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	os.WriteFile(victim, b, 0o644)
	// The receiver has every blob already: nothing is downloaded, nothing corrupted.
	out = run(true, "--store", receiver, "pull", "--insecure", "--progress", "none", plain.Addr+"/mirror/library/app:1")
	if !strings.Contains(out, "0 downloaded") {
		t.Errorf("pull of an image the store has downloaded blobs:\n%s", out)
	}
	fresh := filepath.Join(work, "fresh")
	run(true, "--store", fresh, "pull", "--insecure", "--progress", "none", plain.Addr+"/mirror/example/web:2")
	before := testutil.VisibleTreeHash(t, fresh) // the blobs that verified may stay staged, never the bad one
	out = run(false, "--store", fresh, "pull", "--insecure", "--progress", "none", plain.Addr+"/mirror/library/app:1")
	if !strings.Contains(out, "blob sha256:"+top+": digest mismatch") {
		t.Errorf("corrupted blob:\n%s", out)
	}
	if after := testutil.VisibleTreeHash(t, fresh); after != before {
		t.Errorf("a rejected pull changed the store:\n%s\n---\n%s", before, after)
	}
}

// storeDigests maps each tag (familiar and full) to its digest.
func storeDigests(t *testing.T, s *store.Store) map[string]string {
	t.Helper()
	ents, err := s.Entries()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range ents {
		if !e.Ref.IsZero() {
			out[e.Ref.Familiar()] = e.Desc.Digest.String()
			out[e.Ref.String()] = e.Desc.Digest.String()
		}
	}
	return out
}

func writeDockerConfig(t *testing.T, dir string, cfg map[string]any) {
	t.Helper()
	os.MkdirAll(dir, 0o700)
	b, _ := json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// writeMulti stores a three-platform OCI index whose images share layer base.
func writeMulti(s *store.Store, name string, base []tarFile) error {
	ctx := context.Background()
	plats := []ocispec.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64", Variant: "v8"}, {OS: "linux", Architecture: "s390x"}}
	tx, err := s.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Discard()
	ix := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex}
	ix.SchemaVersion = 2
	for i, p := range plats {
		var descs []ocispec.Descriptor
		cfg := &v1.ConfigFile{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant, Created: v1.Time{Time: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}, RootFS: v1.RootFS{Type: "layers"}}
		for _, files := range [][]tarFile{base, randomLayer(nil, int64(10+i), 128<<10)} {
			d, diff, err := image.WriteLayer(ctx, tx, image.Uncompressed, tarOf(files))
			if err != nil {
				return err
			}
			descs = append(descs, d)
			cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, v1.Hash{Algorithm: "sha256", Hex: diff.Encoded()})
		}
		md, err := image.WriteImage(ctx, tx, cfg, descs)
		if err != nil {
			return err
		}
		p := p
		md.Platform = &p
		ix.Manifests = append(ix.Manifests, md)
	}
	b, _ := json.Marshal(ix)
	d, err := tx.PutBytes(ctx, ocispec.MediaTypeImageIndex, b)
	if err != nil {
		return err
	}
	r, _ := ref.ParseNamed(name)
	tx.Tag(r, d)
	return tx.Commit(ctx)
}
