package verify

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var (
	manifest      = []byte(`{"imgxBundle":1,"blobs":[{"digest":"sha256:aaaa","size":3}]}`)
	otherManifest = []byte(`{"imgxBundle":1,"blobs":[{"digest":"sha256:bbbb","size":3}]}`)
)

func sign(t testing.TB, k crypto.Signer, msg []byte) []byte {
	t.Helper()
	sig, err := Sign(context.Background(), k, msg)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// editSig decodes a signature document as generic JSON, lets f change it
// and re-encodes it.
func editSig(t testing.TB, sig []byte, f func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(sig, &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func field(m map[string]any, path ...string) map[string]any {
	for _, p := range path {
		m = m[p].(map[string]any)
	}
	return m
}

func flipB64(t testing.TB, s string, i int) string {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	b[i%len(b)] ^= 0x01
	return base64.StdEncoding.EncodeToString(b)
}

func TestPolicyDecisions(t *testing.T) {
	a, aPub := newKey(t)
	b, bPub := newKey(t)
	c, _ := newKey(t) // never trusted
	sigA := sign(t, a, manifest)
	sigB := sign(t, b, manifest)
	sigC := sign(t, c, manifest)
	sigAOther := sign(t, a, otherManifest)
	sum := sha256.Sum256(manifest)

	tamperedSig := editSig(t, sigA, func(m map[string]any) {
		ms := field(m, "messageSignature")
		ms["signature"] = flipB64(t, ms["signature"].(string), 20)
	})
	// Replay with the digest edited to match: the signature no longer fits.
	replayedDigest := editSig(t, sigAOther, func(m map[string]any) {
		field(m, "messageSignature", "messageDigest")["digest"] = base64.StdEncoding.EncodeToString(sum[:])
	})
	noHint := editSig(t, sigA, func(m map[string]any) { delete(m, "verificationMaterial") })
	// Hint names trusted key B but A made the signature: no fallback to A.
	wrongHint := editSig(t, sigA, func(m map[string]any) {
		field(m, "verificationMaterial", "publicKey")["hint"] = bPub.Hint()
	})
	withCert := editSig(t, sigC, func(m map[string]any) {
		m["verificationMaterial"] = map[string]any{"certificate": map[string]any{"rawBytes": "AAAA"}}
	})
	sha384 := editSig(t, sigA, func(m map[string]any) {
		field(m, "messageSignature", "messageDigest")["algorithm"] = "SHA2_384"
	})
	oldMediaType := editSig(t, sigA, func(m map[string]any) {
		m["mediaType"] = "application/vnd.dev.sigstore.bundle+json;version=0.1"
	})
	altMediaType := editSig(t, sigA, func(m map[string]any) {
		m["mediaType"] = "application/vnd.dev.sigstore.bundle+json;version=0.3"
	})

	tests := []struct {
		name    string
		policy  Policy
		sigs    [][]byte
		errs    []error // all must match errors.Is; nil means success
		warning string
		trusted []string
	}{
		{name: "no keys, unsigned", policy: Policy{}, warning: UnverifiedWarning},
		{name: "no keys, signed", policy: Policy{}, sigs: [][]byte{sigA}, warning: UnverifiedWarning},
		{name: "no keys, signature required", policy: Policy{RequireSignature: true}, sigs: [][]byte{sigA},
			errs: []error{ErrNoTrustedKeys}},
		{name: "trusted key, unsigned", policy: Policy{Keys: []PublicKey{aPub}},
			errs: []error{ErrUnsigned}},
		{name: "trusted key, valid", policy: Policy{Keys: []PublicKey{aPub}}, sigs: [][]byte{sigA},
			trusted: []string{aPub.ID()}},
		{name: "untrusted signer", policy: Policy{Keys: []PublicKey{aPub}}, sigs: [][]byte{sigC},
			errs: []error{ErrNoValidSignature, ErrUntrustedSigner}},
		{name: "signature of another manifest", policy: Policy{Keys: []PublicKey{aPub}}, sigs: [][]byte{sigAOther},
			errs: []error{ErrNoValidSignature, ErrDigestMismatch}},
		{name: "replayed with digest edited", policy: Policy{Keys: []PublicKey{aPub}}, sigs: [][]byte{replayedDigest},
			errs: []error{ErrNoValidSignature, ErrBadSignature}},
		{name: "tampered signature byte", policy: Policy{Keys: []PublicKey{aPub}}, sigs: [][]byte{tamperedSig},
			errs: []error{ErrNoValidSignature, ErrBadSignature}},
		{name: "hint names another trusted key", policy: Policy{Keys: []PublicKey{aPub, bPub}}, sigs: [][]byte{wrongHint},
			errs: []error{ErrNoValidSignature, ErrBadSignature}},
		{name: "no hint, trusted key verifies", policy: Policy{Keys: []PublicKey{bPub, aPub}}, sigs: [][]byte{noHint},
			trusted: []string{aPub.ID()}},
		{name: "no hint, untrusted", policy: Policy{Keys: []PublicKey{bPub}}, sigs: [][]byte{noHint},
			errs: []error{ErrNoValidSignature, ErrUntrustedSigner}},
		{name: "certificate instead of key", policy: Policy{Keys: []PublicKey{aPub}}, sigs: [][]byte{withCert},
			errs: []error{ErrNoValidSignature, ErrMalformedSignature}},
		{name: "sha384 digest", policy: Policy{Keys: []PublicKey{aPub}}, sigs: [][]byte{sha384},
			errs: []error{ErrMalformedSignature}},
		{name: "bundle v0.1", policy: Policy{Keys: []PublicKey{aPub}}, sigs: [][]byte{oldMediaType},
			errs: []error{ErrMalformedSignature}},
		{name: "bundle v0.3 alternative media type", policy: Policy{Keys: []PublicKey{aPub}}, sigs: [][]byte{altMediaType},
			trusted: []string{aPub.ID()}},
		{name: "not JSON", policy: Policy{Keys: []PublicKey{aPub}}, sigs: [][]byte{[]byte("MEUCIQ")},
			errs: []error{ErrNoValidSignature, ErrMalformedSignature}},
		{name: "one good one bad", policy: Policy{Keys: []PublicKey{aPub}}, sigs: [][]byte{tamperedSig, sigA},
			trusted: []string{aPub.ID()}, warning: "1 of 2 signature(s) did not verify"},
		{name: "threshold 2, two distinct keys", policy: Policy{Keys: []PublicKey{aPub, bPub}, Threshold: 2},
			sigs: [][]byte{sigB, sigA}, trusted: sortedIDs(aPub, bPub)},
		{name: "threshold 2, same key twice", policy: Policy{Keys: []PublicKey{aPub, bPub}, Threshold: 2},
			sigs: [][]byte{sigA, sign(t, a, manifest)}, errs: []error{ErrThreshold}, trusted: []string{aPub.ID()}},
		{name: "threshold 2, one trusted one untrusted", policy: Policy{Keys: []PublicKey{aPub, bPub}, Threshold: 2},
			sigs: [][]byte{sigA, sigC}, errs: []error{ErrThreshold, ErrUntrustedSigner}, trusted: []string{aPub.ID()}},
		{name: "threshold above key count", policy: Policy{Keys: []PublicKey{aPub, bPub}, Threshold: 3},
			sigs: [][]byte{sigA, sigB}, errs: []error{ErrThreshold}},
		{name: "duplicate key counts once", policy: Policy{Keys: []PublicKey{aPub, aPub}, Threshold: 2},
			sigs: [][]byte{sigA}, errs: []error{ErrThreshold}},
		{name: "negative threshold", policy: Policy{Keys: []PublicKey{aPub}, Threshold: -1},
			sigs: [][]byte{sigA}, errs: []error{ErrThreshold}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := tt.policy.Verify(manifest, tt.sigs)
			if res.Digest.Encoded() != (sha256Hex(manifest)) {
				t.Fatalf("Result.Digest = %s", res.Digest)
			}
			if tt.errs == nil && err != nil {
				t.Fatalf("Verify: %v", err)
			}
			for _, target := range tt.errs {
				if !errors.Is(err, target) {
					t.Fatalf("Verify error = %v, want errors.Is %v", err, target)
				}
			}
			if res.Warning != tt.warning {
				t.Fatalf("Warning = %q, want %q", res.Warning, tt.warning)
			}
			if !slices.Equal(res.TrustedBy, tt.trusted) {
				t.Fatalf("TrustedBy = %v, want %v", res.TrustedBy, tt.trusted)
			}
			if len(res.Signers) != len(tt.sigs) && !errors.Is(err, ErrThreshold) {
				t.Fatalf("%d signers reported for %d signatures", len(res.Signers), len(tt.sigs))
			}
			for _, s := range res.Signers {
				if s.Valid != (s.Err == nil) {
					t.Fatalf("signer %d: Valid=%v but Err=%v", s.Index, s.Valid, s.Err)
				}
				if s.Valid && (!s.Trusted || !slices.Contains(res.TrustedBy, s.KeyID)) {
					t.Fatalf("signer %d valid but not trusted/listed: %+v", s.Index, s)
				}
			}
		})
	}
}

func sha256Hex(b []byte) string {
	d := sha256.Sum256(b)
	return base64ToHex(d[:])
}

func base64ToHex(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func sortedIDs(keys ...PublicKey) []string {
	var ids []string
	for _, k := range keys {
		ids = append(ids, k.ID())
	}
	slices.Sort(ids)
	return ids
}

// A signature copied from another bundle must not vouch for this one.
func TestReplayFromOtherManifest(t *testing.T) {
	a, aPub := newKey(t)
	p := Policy{Keys: []PublicKey{aPub}}
	old := sign(t, a, otherManifest)
	if _, err := p.Verify(otherManifest, [][]byte{old}); err != nil {
		t.Fatalf("signature does not verify its own manifest: %v", err)
	}
	res, err := p.Verify(manifest, [][]byte{old})
	if !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("replayed signature: %v, want ErrDigestMismatch", err)
	}
	if res.Signers[0].Valid || !res.Signers[0].Trusted {
		t.Fatalf("replayed signer = %+v, want trusted but not valid", res.Signers[0])
	}
}

func TestVerifyErrorMessage(t *testing.T) {
	_, aPub := newKey(t)
	c, cPub := newKey(t)
	p := Policy{Keys: []PublicKey{aPub}}
	_, err := p.Verify(manifest, [][]byte{sign(t, c, manifest), []byte("{}")})
	var ve *VerifyError
	if !errors.As(err, &ve) {
		t.Fatalf("error %T, want *VerifyError", err)
	}
	if len(ve.Problems) != 2 {
		t.Fatalf("%d problems, want 2: %v", len(ve.Problems), err)
	}
	msg := err.Error()
	for _, want := range []string{
		"manifest sha256:" + sha256Hex(manifest),
		"no valid signature from a trusted key",
		"signature 1 (key " + cPub.ID() + "): signer is not trusted",
		"signature 2: malformed signature",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	var se *SignatureError
	if !errors.As(err, &se) || se.Index != 1 || se.KeyID != cPub.ID() {
		t.Fatalf("first SignatureError = %+v", se)
	}
}

// The signature document has exactly the shape SIGNING.md documents and
// cosign writes; checked as plain JSON so it does not depend on our parser.
func TestSignatureJSONShape(t *testing.T) {
	a, aPub := newKey(t)
	var doc struct {
		MediaType            string `json:"mediaType"`
		VerificationMaterial struct {
			PublicKey struct {
				Hint string `json:"hint"`
			} `json:"publicKey"`
		} `json:"verificationMaterial"`
		MessageSignature struct {
			MessageDigest struct {
				Algorithm string `json:"algorithm"`
				Digest    []byte `json:"digest"`
			} `json:"messageDigest"`
			Signature []byte `json:"signature"`
		} `json:"messageSignature"`
	}
	raw := sign(t, a, manifest)
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	sum := sha256.Sum256(manifest)
	if doc.MediaType != "application/vnd.dev.sigstore.bundle.v0.3+json" ||
		doc.VerificationMaterial.PublicKey.Hint != aPub.Hint() ||
		doc.MessageSignature.MessageDigest.Algorithm != "SHA2_256" ||
		string(doc.MessageSignature.MessageDigest.Digest) != string(sum[:]) {
		t.Fatalf("unexpected signature document: %s", raw)
	}
	if !ecdsa.VerifyASN1(aPub.Crypto().(*ecdsa.PublicKey), sum[:], doc.MessageSignature.Signature) {
		t.Fatal("signature is not an ASN.1 ECDSA signature over sha256(manifest)")
	}
}

// opaqueSigner hides the concrete key type, like an HSM handle would.
type opaqueSigner struct{ s crypto.Signer }

func (o opaqueSigner) Public() crypto.PublicKey { return o.s.Public() }
func (o opaqueSigner) Sign(r io.Reader, d []byte, opts crypto.SignerOpts) ([]byte, error) {
	return o.s.Sign(r, d, opts)
}

func TestSignWithOtherSigners(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	r, _ := rsa.GenerateKey(rand.Reader, 2048)
	for name, s := range map[string]crypto.Signer{
		"ecdsa":        ec,
		"rsa":          r,
		"opaque ecdsa": opaqueSigner{ec},
		"opaque rsa":   opaqueSigner{r},
	} {
		pub, err := NewPublicKey(s.Public())
		if err != nil {
			t.Fatal(err)
		}
		res, err := Policy{Keys: []PublicKey{pub}}.Verify(manifest, [][]byte{sign(t, s, manifest)})
		if err != nil || len(res.TrustedBy) != 1 {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

func TestSignRefuses(t *testing.T) {
	a, _ := newKey(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Sign(ctx, a, manifest); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled ctx: %v", err)
	}
	if _, err := SignDigest(context.Background(), a, []byte("short")); err == nil {
		t.Fatal("SignDigest accepted a 5-byte digest")
	}
	if _, err := Sign(context.Background(), nil, manifest); err == nil {
		t.Fatal("Sign accepted a nil signer")
	}
}

func writeKey(t *testing.T, dir, name string, k PublicKey, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, k.PEM(), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // umask-proof
		t.Fatal(err)
	}
	return path
}

func TestLoadPolicy(t *testing.T) {
	_, aPub := newKey(t)
	_, bPub := newKey(t)
	_, cPub := newKey(t)
	keyDir := t.TempDir()
	keyFile := writeKey(t, keyDir, "release.pub", aPub, 0o644)

	trust := filepath.Join(t.TempDir(), "trusted")
	os.Mkdir(trust, 0o755)
	writeKey(t, trust, "b.pub", bPub, 0o644)
	writeKey(t, trust, "c.pem", cPub, 0o644) // not *.pub: ignored
	os.WriteFile(filepath.Join(trust, "README"), []byte("keys here"), 0o644)
	os.Mkdir(filepath.Join(trust, "old.pub"), 0o755) // a directory: ignored

	p, err := LoadPolicy([]string{keyFile}, trust)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range p.Keys {
		ids = append(ids, k.ID())
	}
	slices.Sort(ids)
	if !slices.Equal(ids, sortedIDs(aPub, bPub)) {
		t.Fatalf("policy keys %v, want a and b", ids)
	}
	if p.Keys[0].Name != keyFile {
		t.Fatalf("key name %q, want %q", p.Keys[0].Name, keyFile)
	}

	// Missing trust dir: no keys, no error.
	p, err = LoadPolicy(nil, filepath.Join(t.TempDir(), "absent"))
	if err != nil || len(p.Keys) != 0 {
		t.Fatalf("missing dir: %v, %d keys", err, len(p.Keys))
	}
	// A broken key file in the trust dir fails closed and names the file.
	bad := filepath.Join(trust, "broken.pub")
	os.WriteFile(bad, []byte("nope"), 0o644)
	if _, err := LoadPolicy(nil, trust); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("broken key: %v, want error naming %s", err, bad)
	}
	os.Remove(bad)
	// World-writable files or directory are refused.
	ww := writeKey(t, trust, "ww.pub", cPub, 0o666)
	if _, err := LoadPolicy(nil, trust); err == nil || !strings.Contains(err.Error(), "writable by any user") {
		t.Fatalf("world-writable key: %v", err)
	}
	os.Remove(ww)
	os.Chmod(trust, 0o777)
	if _, err := LoadPolicy(nil, trust); err == nil || !strings.Contains(err.Error(), "writable by any user") {
		t.Fatalf("world-writable dir: %v", err)
	}
	if _, err := LoadPolicy([]string{filepath.Join(keyDir, "missing.pub")}, ""); err == nil {
		t.Fatal("missing --key file accepted")
	}
}

func TestDefaultTrustDir(t *testing.T) {
	for _, tc := range []struct {
		env      map[string]string
		want     string
		explicit bool
	}{
		{map[string]string{"IMGX_TRUST_DIR": "/etc/imgx/keys", "XDG_CONFIG_HOME": "/xdg", "HOME": "/home/u"}, "/etc/imgx/keys", true},
		{map[string]string{"XDG_CONFIG_HOME": "/xdg", "HOME": "/home/u"}, "/xdg/imgx/trusted", false},
		{map[string]string{"HOME": "/home/u"}, "/home/u/.config/imgx/trusted", false},
		{map[string]string{}, "", false},
	} {
		got, explicit := DefaultTrustDir(func(k string) string { return tc.env[k] })
		if got != tc.want || explicit != tc.explicit {
			t.Errorf("%v: %q, %v; want %q, %v", tc.env, got, explicit, tc.want, tc.explicit)
		}
	}
}
