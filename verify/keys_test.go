package verify

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// newKey makes a key pair with password "pw" and loads both halves.
func newKey(t testing.TB) (*PrivateKey, PublicKey) {
	t.Helper()
	privPEM, pubPEM, err := GenerateKeyPair([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	priv, err := LoadPrivateKey(privPEM, StaticPassword([]byte("pw")))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := LoadPublicKey(pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	return priv, pub
}

func TestGenerateKeyPairRoundTrip(t *testing.T) {
	for _, pw := range []string{"correct horse", ""} {
		privPEM, pubPEM, err := GenerateKeyPair([]byte(pw))
		if err != nil {
			t.Fatalf("password %q: %v", pw, err)
		}
		block, _ := pem.Decode(privPEM)
		if block == nil || block.Type != "ENCRYPTED SIGSTORE PRIVATE KEY" {
			t.Fatalf("password %q: private PEM type %v, want ENCRYPTED SIGSTORE PRIVATE KEY", pw, block)
		}
		if strings.Contains(string(privPEM), "BEGIN PRIVATE KEY") {
			t.Fatal("private key written in the clear")
		}
		priv, err := LoadPrivateKey(privPEM, StaticPassword([]byte(pw)))
		if err != nil {
			t.Fatalf("password %q: load: %v", pw, err)
		}
		pub, err := LoadPublicKey(pubPEM)
		if err != nil {
			t.Fatal(err)
		}
		if priv.PublicKey().ID() != pub.ID() {
			t.Fatalf("private key ID %s != public key ID %s", priv.PublicKey().ID(), pub.ID())
		}
		ec, ok := pub.Crypto().(*ecdsa.PublicKey)
		if !ok || ec.Curve != elliptic.P256() {
			t.Fatalf("key is %T, want ECDSA P-256", pub.Crypto())
		}
		// PEM re-encoding is stable.
		again, err := LoadPublicKey(pub.PEM())
		if err != nil || again.ID() != pub.ID() {
			t.Fatalf("PEM round trip: %v, %s vs %s", err, again.ID(), pub.ID())
		}
	}
}

func TestGenerateKeyPairRefusesNilPassword(t *testing.T) {
	if _, _, err := GenerateKeyPair(nil); err == nil || !strings.Contains(err.Error(), "unencrypted") {
		t.Fatalf("GenerateKeyPair(nil) = %v, want refusal", err)
	}
}

func TestWrongPassword(t *testing.T) {
	privPEM, _, err := GenerateKeyPair([]byte("right"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "release.key")
	if err := os.WriteFile(path, privPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{"wrong", ""} {
		_, err = LoadPrivateKeyFile(path, StaticPassword([]byte(pw)))
		if !errors.Is(err, ErrWrongPassword) {
			t.Fatalf("password %q: error %v, want ErrWrongPassword", pw, err)
		}
		if want := "decrypt key " + path + ": wrong password?"; err.Error() != want {
			t.Fatalf("error = %q, want %q", err, want)
		}
	}
	// A nil password must not skip decryption (cryptoutils would).
	if _, err := LoadPrivateKey(privPEM, StaticPassword(nil)); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("nil password: %v, want ErrWrongPassword", err)
	}
}

func TestPasswordFuncErrors(t *testing.T) {
	privPEM, _, err := GenerateKeyPair([]byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPrivateKey(privPEM, nil); !errors.Is(err, ErrNoPassword) {
		t.Fatalf("nil PasswordFunc: %v, want ErrNoPassword", err)
	}
	boom := errors.New("tty gone")
	if _, err := LoadPrivateKey(privPEM, func() ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("PasswordFunc error: %v, want it wrapped", err)
	}
}

func TestUnencryptedPrivateKeyRefused(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	// What cryptoutils writes when the password func returns nil.
	plainSigstore, _, err := cryptoutils.GeneratePEMEncodedECDSAKeyPair(elliptic.P256(), cryptoutils.SkipPassword)
	if err != nil {
		t.Fatal(err)
	}
	called := false
	pw := func() ([]byte, error) { called = true; return []byte("x"), nil }
	for name, b := range map[string][]byte{
		"pkcs8":       pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}),
		"sec1":        pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}),
		"cryptoutils": plainSigstore,
	} {
		_, err := LoadPrivateKey(b, pw)
		if !errors.Is(err, ErrUnencryptedKey) {
			t.Fatalf("%s: error %v, want ErrUnencryptedKey", name, err)
		}
		if !strings.Contains(err.Error(), "cosign import-key-pair") {
			t.Fatalf("%s: error %q gives no hint", name, err)
		}
	}
	if called {
		t.Fatal("password asked for an unencrypted key")
	}
	for name, b := range map[string][]byte{
		"garbage":   []byte("not a key"),
		"public":    pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}}),
		"pkcs8 enc": pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}}),
	} {
		if _, err := LoadPrivateKey(b, pw); err == nil {
			t.Fatalf("%s: loaded", name)
		}
	}
}

// Keys from cosign before v2 use a different PEM type around the same JSON.
func TestLegacyCosignKeyType(t *testing.T) {
	privPEM, pubPEM, err := GenerateKeyPair([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(privPEM)
	block.Type = "ENCRYPTED COSIGN PRIVATE KEY"
	priv, err := LoadPrivateKey(pem.EncodeToMemory(block), StaticPassword([]byte("pw")))
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := LoadPublicKey(pubPEM)
	if priv.PublicKey().ID() != pub.ID() {
		t.Fatal("legacy key loaded a different key")
	}
}

func TestKeyID(t *testing.T) {
	_, pub := newKey(t)
	der, err := x509.MarshalPKIXPublicKey(pub.Crypto())
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	id, hint, err := KeyID(pub.Crypto())
	if err != nil {
		t.Fatal(err)
	}
	if want := "sha256:" + hex.EncodeToString(sum[:]); id != want || pub.ID() != want {
		t.Fatalf("KeyID = %s / %s, want %s", id, pub.ID(), want)
	}
	if want := base64.StdEncoding.EncodeToString(sum[:]); hint != want || pub.Hint() != want {
		t.Fatalf("hint = %s / %s, want %s", hint, pub.Hint(), want)
	}
	if hintToID(hint) != id {
		t.Fatalf("hintToID(%s) = %s, want %s", hint, hintToID(hint), id)
	}
	if got := hintToID("not base64!"); got != `"not base64!"` {
		t.Fatalf("hintToID of junk = %s", got)
	}
}

func TestKeyTypes(t *testing.T) {
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	tests := []struct {
		name string
		key  any
		ok   bool
	}{
		{"ecdsa p384", p384.Public(), true},
		{"rsa 2048", rsa2048.Public(), true},
		{"ecdsa p224", p224.Public(), false},
		{"rsa 1024", rsa1024.Public(), false},
		{"ed25519", edPub, false},
		{"string", "key", false},
	}
	for _, tt := range tests {
		_, err := NewPublicKey(tt.key)
		if tt.ok != (err == nil) {
			t.Errorf("%s: NewPublicKey error %v, want ok=%v", tt.name, err, tt.ok)
		}
		if !tt.ok && !errors.Is(err, ErrUnsupportedKey) {
			t.Errorf("%s: error %v does not wrap ErrUnsupportedKey", tt.name, err)
		}
	}
}

func TestLoadPublicKeyErrors(t *testing.T) {
	if _, err := LoadPublicKey([]byte("junk")); err == nil {
		t.Fatal("junk public key loaded")
	}
	path := filepath.Join(t.TempDir(), "bad.pub")
	os.WriteFile(path, []byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"), 0o644)
	if _, err := LoadPublicKeyFile(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("bad key file: error %v does not name %s", err, path)
	}
}
