package verify

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
)

// PEM block types of cosign's encrypted private keys.
const (
	sigstoreKeyPEMType = string(cryptoutils.EncryptedSigstorePrivateKeyPEMType)
	cosignKeyPEMType   = "ENCRYPTED COSIGN PRIVATE KEY" // cosign before v2
)

// PublicKey is a verification key with its precomputed key ID.
type PublicKey struct {
	key crypto.PublicKey
	der []byte
	sum [sha256.Size]byte
	// Name says where the key came from (a file path) for messages.
	Name string
}

// NewPublicKey wraps an ECDSA or RSA public key.
func NewPublicKey(pub crypto.PublicKey) (PublicKey, error) {
	if err := checkKeyType(pub); err != nil {
		return PublicKey{}, err
	}
	der, err := cryptoutils.MarshalPublicKeyToDER(pub)
	if err != nil {
		return PublicKey{}, fmt.Errorf("marshal public key: %w", err)
	}
	return PublicKey{key: pub, der: der, sum: sha256.Sum256(der)}, nil
}

// LoadPublicKey parses a PEM "PUBLIC KEY" (as written by cosign and by
// GenerateKeyPair).
func LoadPublicKey(pemBytes []byte) (PublicKey, error) {
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pemBytes)
	if err != nil {
		return PublicKey{}, fmt.Errorf("parse public key: %w", err)
	}
	return NewPublicKey(pub)
}

// LoadPublicKeyFile reads a public key file; errors name the file.
func LoadPublicKeyFile(path string) (PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return PublicKey{}, fmt.Errorf("read public key: %w", err)
	}
	k, err := LoadPublicKey(b)
	if err != nil {
		return PublicKey{}, fmt.Errorf("public key %s: %w", path, err)
	}
	k.Name = path
	return k, nil
}

// ID is "sha256:<hex>" of the DER SubjectPublicKeyInfo.
func (k PublicKey) ID() string { return "sha256:" + hex.EncodeToString(k.sum[:]) }

// Hint is the same hash in standard base64, as cosign puts it in a bundle.
func (k PublicKey) Hint() string { return base64.StdEncoding.EncodeToString(k.sum[:]) }

// Crypto returns the key for use with crypto packages.
func (k PublicKey) Crypto() crypto.PublicKey { return k.key }

// PEM encodes the key as a PEM "PUBLIC KEY" block.
func (k PublicKey) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: string(cryptoutils.PublicKeyPEMType), Bytes: k.der})
}

// IsZero reports whether k holds no key.
func (k PublicKey) IsZero() bool { return k.key == nil }

func (k PublicKey) String() string {
	if k.Name != "" {
		return k.ID() + " (" + k.Name + ")"
	}
	return k.ID()
}

// KeyID returns the key ID ("sha256:<hex>") and the base64 hint of pub.
func KeyID(pub crypto.PublicKey) (id, hint string, err error) {
	k, err := NewPublicKey(pub)
	if err != nil {
		return "", "", err
	}
	return k.ID(), k.Hint(), nil
}

// hintToID turns a bundle's base64 hint into a key ID for messages. A hint
// that is not a base64 SHA-256 is returned quoted, so it is still visible.
func hintToID(hint string) string {
	b, err := base64.StdEncoding.DecodeString(hint)
	if err != nil || len(b) != sha256.Size {
		return fmt.Sprintf("%q", hint)
	}
	return "sha256:" + hex.EncodeToString(b)
}

// checkKeyType allows what cosign can verify offline: ECDSA on a NIST curve
// and RSA of at least 2048 bits. Ed25519 is refused: cosign releases cannot
// verify Ed25519 blob signatures (see docs/security.md).
func checkKeyType(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
		default:
			return fmt.Errorf("%w: ECDSA curve %s", ErrUnsupportedKey, k.Curve.Params().Name)
		}
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return fmt.Errorf("%w: RSA key of %d bits, need at least 2048", ErrUnsupportedKey, k.N.BitLen())
		}
	case ed25519.PublicKey:
		return fmt.Errorf("%w: ed25519 (cosign cannot verify ed25519 blob signatures; use ECDSA P-256)", ErrUnsupportedKey)
	default:
		return fmt.Errorf("%w: %T", ErrUnsupportedKey, pub)
	}
	return nil
}

// PrivateKey is a decrypted signing key. It implements crypto.Signer, so it
// can be passed to Sign.
type PrivateKey struct {
	sv  signature.SignerVerifier
	key crypto.Signer
	pub PublicKey
}

// Public implements crypto.Signer.
func (k *PrivateKey) Public() crypto.PublicKey { return k.pub.key }

// Sign implements crypto.Signer.
func (k *PrivateKey) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return k.key.Sign(rand, digest, opts)
}

// PublicKey returns the matching public key with its ID.
func (k *PrivateKey) PublicKey() PublicKey { return k.pub }

// GenerateKeyPair makes an ECDSA P-256 key pair in cosign's format: the
// private key PEM is encrypted with password (empty is allowed, as with
// cosign; nil is refused because the library would then write the private
// key unencrypted).
func GenerateKeyPair(password []byte) (privPEM, pubPEM []byte, err error) {
	if password == nil {
		return nil, nil, errors.New("generate key pair: nil password: refusing to write an unencrypted private key")
	}
	privPEM, pubPEM, err = cryptoutils.GeneratePEMEncodedECDSAKeyPair(elliptic.P256(), cryptoutils.StaticPasswordFunc(password))
	if err != nil {
		return nil, nil, fmt.Errorf("generate key pair: %w", err)
	}
	// Belt and braces against a library change writing plaintext keys.
	if b, _ := pem.Decode(privPEM); b == nil || b.Type != sigstoreKeyPEMType {
		return nil, nil, errors.New("generate key pair: library did not encrypt the private key")
	}
	return privPEM, pubPEM, nil
}

// LoadPrivateKey decrypts a cosign-format private key (ENCRYPTED SIGSTORE
// PRIVATE KEY, or ENCRYPTED COSIGN PRIVATE KEY from older cosign). pw is
// called once. Unencrypted keys are refused: use `cosign import-key-pair`
// to encrypt an existing key.
func LoadPrivateKey(pemBytes []byte, pw PasswordFunc) (*PrivateKey, error) {
	return loadPrivateKey("", pemBytes, pw)
}

// LoadPrivateKeyFile is LoadPrivateKey for a file; errors name the file.
func LoadPrivateKeyFile(path string, pw PasswordFunc) (*PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read private key: %w", err)
	}
	return loadPrivateKey(path, b, pw)
}

func loadPrivateKey(name string, pemBytes []byte, pw PasswordFunc) (*PrivateKey, error) {
	what := "private key"
	if name != "" {
		what += " " + name
	}
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block found", what)
	}
	switch block.Type {
	case sigstoreKeyPEMType, cosignKeyPEMType:
	case "PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY":
		return nil, fmt.Errorf("%s: %w (PEM %q): encrypt it with `cosign import-key-pair --key FILE`", what, ErrUnencryptedKey, block.Type)
	default:
		return nil, fmt.Errorf("%s: unsupported PEM type %q, want %q", what, block.Type, sigstoreKeyPEMType)
	}
	if pw == nil {
		return nil, fmt.Errorf("%s: %w", what, ErrNoPassword)
	}
	password, err := pw()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if password == nil {
		// cryptoutils skips decryption for a nil password; empty is a real
		// (empty) password.
		password = []byte{}
	}
	priv, err := cryptoutils.UnmarshalPEMToPrivateKey(pemBytes, cryptoutils.StaticPasswordFunc(password))
	if err != nil {
		// secretbox authentication failure: the only sign of a wrong
		// password (or a corrupted file) that the library gives.
		if strings.Contains(err.Error(), "decryption failed") {
			err = ErrWrongPassword
		}
		if name == "" {
			return nil, fmt.Errorf("decrypt key: %w", err)
		}
		return nil, fmt.Errorf("decrypt key %s: %w", name, err)
	}
	// The key's scrypt took 64 MiB (N=2^16, r=8), garbage from here on: give it back now
	// rather than at the next GC, which a save's buffers would otherwise stack on (its
	// peak RSS went from 112 to about 50 MB).
	debug.FreeOSMemory()
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: %w: %T", what, ErrUnsupportedKey, priv)
	}
	pub, err := NewPublicKey(signer.Public())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	pub.Name = name
	sv, err := signature.LoadSignerVerifier(priv, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return &PrivateKey{sv: sv, key: signer, pub: pub}, nil
}
