package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgx/imgx/internal/testserver"
	"github.com/imgx/imgx/internal/testutil"
	"github.com/imgx/imgx/store"
)

// cosignTool runs the real cosign (built into bin/tools by scripts/install-cosign.sh)
// with a key pair made for the test, offline: no transparency log, no Fulcio.
type cosignTool struct {
	t        *testing.T
	bin, dir string
}

func newCosignTool(t *testing.T) *cosignTool {
	bin := testserver.RequireTool(t, "cosign", "./scripts/install-cosign.sh builds it into bin/tools",
		filepath.Join(testserver.RepoRoot(), "bin", "tools", "cosign"))
	c := &cosignTool{t: t, bin: bin, dir: t.TempDir()}
	c.run(true, "generate-key-pair", "--output-key-prefix", filepath.Join(c.dir, "k"))
	return c
}

func (c *cosignTool) key() string { return filepath.Join(c.dir, "k.key") }
func (c *cosignTool) pub() string { return filepath.Join(c.dir, "k.pub") }

func (c *cosignTool) run(wantOK bool, args ...string) string {
	c.t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "COSIGN_PASSWORD=pw", "COSIGN_YES=true", "HOME="+c.dir, "DOCKER_CONFIG="+filepath.Join(c.dir, "docker"), "TUF_ROOT="+filepath.Join(c.dir, "tuf"))
	out, err := cmd.CombinedOutput()
	if (err == nil) != wantOK {
		c.t.Fatalf("cosign %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// sign signs image (REGISTRY/REPO@DIGEST, plain HTTP) with the test key, no tlog.
func (c *cosignTool) sign(image string) {
	c.t.Helper()
	c.run(true, "sign", "--key", c.key(), "--tlog-upload=false", "--allow-insecure-registry", "--allow-http-registry", image)
}

// attestSPDX attaches a small SPDX SBOM as a signed in-toto attestation.
func (c *cosignTool) attestSPDX(image string) {
	c.t.Helper()
	sbom := filepath.Join(c.dir, "sbom.spdx.json")
	os.WriteFile(sbom, []byte(`{"spdxVersion":"SPDX-2.3","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT","name":"app","documentNamespace":"https://example.com/app","creationInfo":{"created":"2026-01-01T00:00:00Z","creators":["Tool: test"]},"packages":[]}`), 0o644)
	c.run(true, "attest", "--key", c.key(), "--tlog-upload=false", "--allow-insecure-registry", "--allow-http-registry",
		"--type", "spdxjson", "--predicate", sbom, image)
}

// verify runs cosign verify and verify-attestation against image with the test key.
func (c *cosignTool) verify(image string) {
	c.t.Helper()
	c.run(true, "verify", "--key", c.pub(), "--insecure-ignore-tlog=true", "--allow-insecure-registry", "--allow-http-registry", image)
	c.run(true, "verify-attestation", "--key", c.pub(), "--type", "spdxjson", "--insecure-ignore-tlog=true", "--allow-insecure-registry", "--allow-http-registry", image)
}

// TestSupplyChainRoundTrip is issue 15's round trip with real components: an image in a
// registry signed and attested by cosign, imgx pull (which fetches the artifacts), save,
// load into another store under an image-signature policy, push to a second registry,
// and cosign verify / verify-attestation there.
func TestSupplyChainRoundTrip(t *testing.T) {
	src := testserver.StartRegistry(t, testserver.RegistryOptions{})
	cos := newCosignTool(t)
	bin := imgxBin(t)
	work := t.TempDir()
	origin := filepath.Join(work, "origin")
	sender := filepath.Join(work, "sender")
	runner := newImgxRunner(t, bin, work)
	run := runner.run
	s, err := store.Open(origin)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeLayered(s, "app:1", randomLayer(t, 1, 256<<10)); err != nil {
		t.Fatal(err)
	}
	run(true, "--store", origin, "push", "--insecure", "--progress", "none", "app:1", src.Addr+"/app:1")
	d, err := s.Resolve(t.Context(), "app:1")
	if err != nil {
		t.Fatal(err)
	}
	signed := src.Addr + "/app@" + d.Desc.Digest.String()
	cos.sign(signed)
	cos.attestSPDX(signed)
	cos.verify(signed) // the starting point is sound

	var pulled struct {
		Artifacts []struct{ Kind, Digest, Subject, Source string }
	}
	out := run(true, "--store", sender, "pull", "--insecure", "--progress", "none", "--json", src.Addr+"/app:1")
	if err := json.Unmarshal([]byte(out), &pulled); err != nil {
		t.Fatalf("pull --json: %v\n%s", err, out)
	}
	kinds := map[string]int{}
	for _, a := range pulled.Artifacts {
		kinds[a.Kind]++
		if a.Subject != d.Desc.Digest.String() {
			t.Errorf("artifact %+v: subject is not the image %s", a, d.Desc.Digest)
		}
	}
	if kinds["signature"] != 1 || kinds["attestation"] != 1 {
		t.Fatalf("pull found %v, want one signature and one attestation:\n%s", kinds, out)
	}
	out = run(true, "--store", sender, "inspect", "--format", "{{ range .Artifacts }}{{ .Kind }} {{ end }}", src.Addr+"/app:1")
	if !strings.Contains(out, "signature") || !strings.Contains(out, "attestation") {
		t.Errorf("inspect does not show the artifacts: %q", out)
	}
	if out := run(true, "--store", sender, "images", "--artifacts"); !strings.Contains(out, "1 signature, 1 attestation") {
		t.Errorf("images --artifacts:\n%s", out)
	}
	if out := run(true, "--store", filepath.Join(work, "bare"), "pull", "--insecure", "--progress", "none", "--exclude-extras", src.Addr+"/app:1"); !strings.Contains(out, "--exclude-extras") {
		t.Errorf("pull --exclude-extras does not say it left the artifacts out:\n%s", out)
	}
	if as, _ := mustOpen(t, filepath.Join(work, "bare")).Artifacts(); len(as) != 0 {
		t.Errorf("pull --exclude-extras stored %d artifacts", len(as))
	}

	// save -> verify and load under the image-signature policy -> push -> cosign verify.
	bundleFile := filepath.Join(work, "app.imgx")
	run(true, "--store", sender, "save", "-o", bundleFile, "--progress", "none", src.Addr+"/app:1")
	imageKey := src.Addr + "/app=" + cos.pub()
	run(true, "verify", "--digest-only", "--image-key", imageKey, "--image-attestation", "spdxjson", bundleFile)
	other := newCosignTool(t)
	if out := run(false, "verify", "--digest-only", "--image-key", src.Addr+"/app="+other.pub(), bundleFile); !strings.Contains(out, "no trusted key verifies it") {
		t.Errorf("verify with an untrusted image key:\n%s", out)
	}
	// An untrusted key: the whole load is refused, naming image and reason; store unchanged.
	receiver := filepath.Join(work, "receiver")
	if _, err := store.Open(receiver); err != nil {
		t.Fatal(err)
	}
	before := testutil.VisibleTreeHash(t, receiver)
	out = run(false, "--store", receiver, "load", "-i", bundleFile, "--image-key", src.Addr+"/app="+other.pub())
	if !strings.Contains(out, src.Addr+"/app:1") || !strings.Contains(out, "no trusted key verifies it") {
		t.Errorf("refusal does not name the image and the reason:\n%s", out)
	}
	if testutil.VisibleTreeHash(t, receiver) != before {
		t.Fatal("a refused load changed the store")
	}
	out = run(true, "--store", receiver, "load", "-i", bundleFile, "--image-key", imageKey, "--image-attestation", "spdxjson")
	if !strings.Contains(out, "Verified image signature: "+src.Addr+"/app:1") {
		t.Errorf("load does not say it verified the image signature:\n%s", out)
	}
	if out := run(true, "--store", receiver, "inspect", "--format", "{{ range .Artifacts }}{{ .Kind }}={{ .SignerKeyID }} {{ end }}", src.Addr+"/app:1"); !strings.Contains(out, "signature=sha256:") {
		t.Errorf("inspect does not show the signer key ID: %q", out)
	}
	site := testserver.StartRegistry(t, testserver.RegistryOptions{})
	out = run(true, "--store", receiver, "push", "--insecure", "--progress", "none", "--all", site.Addr+"/mirror")
	if !strings.Contains(out, ".sig") || !strings.Contains(out, ".att") {
		t.Errorf("push --all does not report the artifacts:\n%s", out)
	}
	cos.verify(site.Addr + "/mirror/app@" + d.Desc.Digest.String())
	// Single-image push too.
	run(true, "--store", receiver, "push", "--insecure", "--progress", "none", src.Addr+"/app:1", site.Addr+"/single/app:1")
	cos.verify(site.Addr + "/single/app@" + d.Desc.Digest.String())
	other.run(false, "verify", "--key", other.pub(), "--insecure-ignore-tlog=true", "--allow-insecure-registry", "--allow-http-registry", site.Addr+"/single/app@"+d.Desc.Digest.String())
}

func mustOpen(t *testing.T, root string) *store.Store {
	t.Helper()
	s, err := store.OpenExisting(root)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSupplyChainSigstoreBundles: cosign's Sigstore bundle format (--new-bundle-format,
// cosign v3's default), stored as OCI referrers through the referrers tag fallback of a
// registry without the referrers API: pull finds them, load verifies the signature and
// the SPDX attestation under the image policy (and refuses another key), push --all
// carries them, and cosign verifies them at the second registry.
func TestSupplyChainSigstoreBundles(t *testing.T) {
	src := testserver.StartRegistry(t, testserver.RegistryOptions{})
	cos := newCosignTool(t)
	bin := imgxBin(t)
	work := t.TempDir()
	runner := newImgxRunner(t, bin, work)
	run := runner.run
	origin := filepath.Join(work, "origin")
	s, err := store.Open(origin)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeLayered(s, "app:1", randomLayer(t, 7, 64<<10)); err != nil {
		t.Fatal(err)
	}
	run(true, "--store", origin, "push", "--insecure", "--progress", "none", "app:1", src.Addr+"/app:1")
	d, _ := s.Resolve(t.Context(), "app:1")
	signed := src.Addr + "/app@" + d.Desc.Digest.String()
	co := []string{"--tlog-upload=false", "--new-bundle-format", "--allow-insecure-registry", "--allow-http-registry"}
	cos.run(true, append([]string{"sign", "--key", cos.key()}, append(co, signed)...)...)
	sbom := filepath.Join(cos.dir, "sbom.json")
	os.WriteFile(sbom, []byte(`{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","name":"app"}`), 0o644)
	cos.run(true, append([]string{"attest", "--key", cos.key(), "--type", "spdxjson", "--predicate", sbom}, append(co, signed)...)...)

	sender := filepath.Join(work, "sender")
	if out := run(true, "--store", sender, "pull", "--insecure", "--progress", "none", src.Addr+"/app:1"); strings.Count(out, "Artifact: referrer") != 2 {
		t.Fatalf("pull does not find the two referrers:\n%s", out)
	}
	b := filepath.Join(work, "app.imgx")
	run(true, "--store", sender, "save", "-o", b, src.Addr+"/app:1")
	other := newCosignTool(t)
	bad := filepath.Join(work, "bad")
	if out := run(false, "--store", bad, "load", "-i", b, "--image-key", src.Addr+"/app="+other.pub()); !strings.Contains(out, "no trusted key verifies the envelope") {
		t.Errorf("load with another key:\n%s", out)
	}
	receiver := filepath.Join(work, "receiver")
	out := run(true, "--store", receiver, "load", "-i", b, "--image-key", src.Addr+"/app="+cos.pub(), "--image-attestation", "spdxjson")
	if !strings.Contains(out, "Verified image signature: "+src.Addr+"/app:1") {
		t.Errorf("load:\n%s", out)
	}
	site := testserver.StartRegistry(t, testserver.RegistryOptions{})
	run(true, "--store", receiver, "push", "--insecure", "--progress", "none", "--all", site.Addr+"/mirror")
	tr := filepath.Join(cos.dir, "trusted_root.json")
	os.WriteFile(tr, []byte(`{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`), 0o644)
	at := site.Addr + "/mirror/app@" + d.Desc.Digest.String()
	vo := []string{"--key", cos.pub(), "--insecure-ignore-tlog=true", "--new-bundle-format", "--trusted-root", tr, "--allow-insecure-registry", "--allow-http-registry"}
	cos.run(true, append(append([]string{"verify"}, vo...), at)...)
	cos.run(true, append(append([]string{"verify-attestation", "--type", "spdxjson"}, vo...), at)...)
}
