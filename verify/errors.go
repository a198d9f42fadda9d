package verify

import (
	"errors"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
)

// Sentinels; test with errors.Is. Policy errors are *VerifyError values
// that wrap one reason and every per-signature problem.
var (
	// ErrUnsigned: trusted keys are configured but the bundle has no signature.
	ErrUnsigned = errors.New("bundle is not signed")
	// ErrNoTrustedKeys: RequireSignature is set but no key is trusted.
	ErrNoTrustedKeys = errors.New("no trusted keys configured")
	// ErrNoValidSignature: no signature verified with a trusted key.
	ErrNoValidSignature = errors.New("no valid signature from a trusted key")
	// ErrThreshold: fewer distinct trusted keys signed than the policy
	// requires, or the policy asks for more keys than it has.
	ErrThreshold = errors.New("signature threshold not met")
	// ErrMisconfigured: the trust configuration cannot be what the user meant: a
	// threshold above the keys found, a required signature without keys, or a trust
	// directory named in $IMGX_TRUST_DIR that is missing or holds no key.
	ErrMisconfigured = errors.New("trust misconfigured")
	// ErrUntrustedSigner: the signature names a key that is not trusted.
	ErrUntrustedSigner = errors.New("signer is not trusted")
	// ErrBadSignature: the signature does not verify with the trusted key.
	ErrBadSignature = errors.New("bad signature")
	// ErrDigestMismatch: the signature is over a different manifest (for
	// example one replayed from another bundle).
	ErrDigestMismatch = errors.New("signed digest does not match the manifest")
	// ErrMalformedSignature: the signature file is not a usable Sigstore bundle.
	ErrMalformedSignature = errors.New("malformed signature")

	// ErrWrongPassword: the private key did not decrypt.
	ErrWrongPassword = errors.New("wrong password?")
	// ErrUnencryptedKey: private keys must be stored encrypted.
	ErrUnencryptedKey = errors.New("private key is not encrypted")
	// ErrNoPassword: no password source is available.
	ErrNoPassword = errors.New("no password: set IMGX_PASSWORD or run on a terminal")
	// ErrUnsupportedKey: the key type or size cannot be used.
	ErrUnsupportedKey = errors.New("unsupported key")
)

// SignatureError is the problem with one signature. Index counts from 1 in
// the order the signatures were given.
type SignatureError struct {
	Index int
	KeyID string // from the signature's hint; may be empty
	Err   error
}

func (e *SignatureError) Error() string {
	if e.KeyID == "" {
		return fmt.Sprintf("signature %d: %v", e.Index, e.Err)
	}
	return fmt.Sprintf("signature %d (key %s): %v", e.Index, e.KeyID, e.Err)
}

func (e *SignatureError) Unwrap() error { return e.Err }

// VerifyError is a policy failure. Reason is one of ErrUnsigned,
// ErrNoTrustedKeys, ErrNoValidSignature or ErrThreshold; Problems holds a
// *SignatureError for every signature that did not count.
type VerifyError struct {
	Digest    digest.Digest
	Reason    error
	Valid     int // distinct trusted keys with a valid signature
	Threshold int
	Problems  []error
}

func (e *VerifyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "manifest %s: %v", e.Digest, e.Reason)
	if errors.Is(e.Reason, ErrThreshold) {
		fmt.Fprintf(&b, " (%d distinct trusted signer(s), %d required)", e.Valid, e.Threshold)
	}
	for _, p := range e.Problems {
		b.WriteString("; ")
		b.WriteString(p.Error())
	}
	return b.String()
}

// Unwrap returns the reason followed by every signature's problem, so
// errors.Is(err, ErrUntrustedSigner) tells why signatures did not count.
func (e *VerifyError) Unwrap() []error {
	return append([]error{e.Reason}, e.Problems...)
}
