package verify

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/imgx/imgx/internal/testserver"
)

// testdata/cosign-v2.6.5 was made offline with cosign v2.6.5:
//
//	COSIGN_PASSWORD=pw cosign generate-key-pair
//	COSIGN_PASSWORD=pw cosign sign-blob --key cosign.key --tlog-upload=false \
//	    --new-bundle-format --bundle f.txt.sigstore.json f.txt
//
// so cosign interop stays tested where cosign is not installed.
func TestCosignFixture(t *testing.T) {
	dir := filepath.Join("testdata", "cosign-v2.6.5")
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	pub, err := LoadPublicKey(read("cosign.pub"))
	if err != nil {
		t.Fatal(err)
	}
	msg, sig := read("f.txt"), read("f.txt.sigstore.json")
	p := Policy{Keys: []PublicKey{pub}}
	res, err := p.Verify(msg, [][]byte{sig})
	if err != nil {
		t.Fatalf("cosign's bundle: %v", err)
	}
	if res.TrustedBy[0] != pub.ID() || res.Signers[0].KeyID != pub.ID() {
		t.Fatalf("signer %+v, want %s (cosign's hint must equal our key ID)", res.Signers[0], pub.ID())
	}
	if _, err := p.Verify(append(bytes.Clone(msg), '!'), [][]byte{sig}); !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("cosign's bundle over changed file: %v", err)
	}

	priv, err := LoadPrivateKey(read("cosign.key"), StaticPassword([]byte("pw")))
	if err != nil {
		t.Fatalf("cosign-made private key: %v", err)
	}
	if priv.PublicKey().ID() != pub.ID() {
		t.Fatal("cosign.key and cosign.pub differ")
	}
	if _, err := LoadPrivateKey(read("cosign.key"), StaticPassword([]byte("wrong"))); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("cosign key, wrong password: %v", err)
	}
	if _, err := p.Verify(msg, [][]byte{sign(t, priv, msg)}); err != nil {
		t.Fatalf("imgx signature with cosign's key: %v", err)
	}
}

// cosignRunner runs the real cosign offline in a scratch HOME.
type cosignRunner struct {
	t    *testing.T
	bin  string
	dir  string
	v3   bool
	root string // empty trusted root for cosign v2's --trusted-root
}

func newCosign(t *testing.T) *cosignRunner {
	// scripts/install-cosign.sh (run by install-deps.sh) builds it into bin/tools.
	bin := testserver.RequireTool(t, "cosign", "./scripts/install-cosign.sh builds it into bin/tools",
		filepath.Join(testserver.RepoRoot(), "bin", "tools", "cosign"))
	c := &cosignRunner{t: t, bin: bin, dir: t.TempDir()}
	out, _ := c.run(nil, "version", "--json")
	m := regexp.MustCompile(`"gitVersion":\s*"v(\d+)\.`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("cannot tell cosign's version from %q", out)
	}
	c.v3 = m[1] != "2"
	c.root = c.write("tr.json", []byte(`{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`))
	return c
}

func (c *cosignRunner) write(name string, b []byte) string {
	path := filepath.Join(c.dir, name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		c.t.Fatal(err)
	}
	return path
}

func (c *cosignRunner) run(env []string, args ...string) (string, error) {
	cmd := exec.Command(c.bin, args...)
	cmd.Dir = c.dir
	// A scratch HOME keeps cosign's TUF cache out of the user's; no proxy
	// variables are passed, everything here is offline.
	cmd.Env = append([]string{"HOME=" + c.dir, "PATH=" + os.Getenv("PATH")}, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (c *cosignRunner) verifyBlob(pub, sig, file string) (string, error) {
	args := []string{"verify-blob", "--key", pub, "--bundle", sig}
	if c.v3 {
		args = append(args, "--insecure-ignore-tlog")
	} else {
		args = append(args, "--insecure-ignore-tlog=true", "--trusted-root", c.root)
	}
	return c.run(nil, append(args, file)...)
}

func (c *cosignRunner) signBlob(key, password, sig, file string) {
	args := []string{"sign-blob", "--yes", "--key", key, "--bundle", sig}
	if c.v3 {
		args = append(args, "--use-signing-config=false", "--tlog-upload=false")
	} else {
		args = append(args, "--tlog-upload=false", "--new-bundle-format")
	}
	if out, err := c.run([]string{"COSIGN_PASSWORD=" + password}, append(args, file)...); err != nil {
		c.t.Fatalf("cosign sign-blob: %v\n%s", err, out)
	}
}

// (a) cosign verify-blob accepts imgx's signatures and keys, and rejects
// a changed manifest.
func TestRealCosignVerifiesImgx(t *testing.T) {
	c := newCosign(t)
	privPEM, pubPEM, err := GenerateKeyPair([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	priv, err := LoadPrivateKey(privPEM, StaticPassword([]byte("pw")))
	if err != nil {
		t.Fatal(err)
	}
	pub := c.write("release.pub", pubPEM)
	file := c.write("manifest.json", manifest)
	sig := c.write("manifest.json.sigstore.json", sign(t, priv, manifest))
	if out, err := c.verifyBlob(pub, sig, file); err != nil || !strings.Contains(out, "Verified OK") {
		t.Fatalf("cosign verify-blob rejected imgx's signature: %v\n%s", err, out)
	}
	other := c.write("other.json", otherManifest)
	if out, err := c.verifyBlob(pub, sig, other); err == nil {
		t.Fatalf("cosign verify-blob accepted the signature over another file:\n%s", out)
	}
	// imgx's key file is usable by cosign too.
	key := c.write("release.key", privPEM)
	sig2 := filepath.Join(c.dir, "by-cosign.sigstore.json")
	c.signBlob(key, "pw", sig2, file)
	b, err := os.ReadFile(sig2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (Policy{Keys: []PublicKey{priv.PublicKey()}}).Verify(manifest, [][]byte{b}); err != nil {
		t.Fatalf("imgx rejected cosign's signature with an imgx key: %v\n%s", err, b)
	}
}

// (b) cosign's keys load in imgx; cosign's bundles verify in imgx, and imgx
// signatures with cosign's key verify in cosign.
func TestRealCosignKeysAndBundles(t *testing.T) {
	c := newCosign(t)
	if out, err := c.run([]string{"COSIGN_PASSWORD=cpw"}, "generate-key-pair"); err != nil {
		t.Fatalf("cosign generate-key-pair: %v\n%s", err, out)
	}
	keyPath, pubPath := filepath.Join(c.dir, "cosign.key"), filepath.Join(c.dir, "cosign.pub")
	priv, err := LoadPrivateKeyFile(keyPath, StaticPassword([]byte("cpw")))
	if err != nil {
		t.Fatalf("cosign-made key: %v", err)
	}
	if _, err := LoadPrivateKeyFile(keyPath, StaticPassword([]byte("nope"))); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("cosign-made key, wrong password: %v", err)
	}
	pub, err := LoadPublicKeyFile(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	if pub.ID() != priv.PublicKey().ID() {
		t.Fatal("cosign.pub does not match cosign.key")
	}
	file := c.write("manifest.json", manifest)
	cosignSig := filepath.Join(c.dir, "cosign.sigstore.json")
	c.signBlob(keyPath, "cpw", cosignSig, file)
	b, err := os.ReadFile(cosignSig)
	if err != nil {
		t.Fatal(err)
	}
	p := Policy{Keys: []PublicKey{pub}}
	if _, err := p.Verify(manifest, [][]byte{b}); err != nil {
		t.Fatalf("imgx rejected cosign's bundle: %v\n%s", err, b)
	}
	if _, err := p.Verify(otherManifest, [][]byte{b}); !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("cosign's bundle over another manifest: %v", err)
	}
	imgxSig := c.write("imgx.sigstore.json", sign(t, priv, manifest))
	if out, err := c.verifyBlob(pubPath, imgxSig, file); err != nil {
		t.Fatalf("cosign rejected imgx's signature with cosign's key: %v\n%s", err, out)
	}
}
