// Package verify owns imgx's keys, signatures and trust policy.
//
// What is signed is the bundle manifest: a small JSON file that pins every
// blob of a bundle by digest, so one signature covers the whole bundle while
// the signer reads only a few kilobytes. Each signature is a Sigstore bundle
// v0.3 JSON document (a key hint, the SHA-256 of the manifest and an ASN.1
// ECDSA signature, no transparency log), which `cosign verify-blob` checks
// offline. docs/security.md describes the model; docs/bundle-format.md
// places the files in a bundle.
//
// # Keys
//
// Keys are ECDSA P-256 in cosign's format: the private key is always
// encrypted (scrypt + secretbox, PEM type ENCRYPTED SIGSTORE PRIVATE KEY), the
// public key is a PKIX PEM. A key is identified by "sha256:<hex>" of its DER
// SubjectPublicKeyInfo; the signature's hint is the base64 of the same hash.
//
// # Trust
//
// A [Policy] holds the trusted public keys and a k-of-n threshold. It never
// trusts anything a signature carries: it recomputes the manifest digest,
// picks the key by hint among its own keys and counts distinct trusted keys
// whose signature verifies. With no keys (and no threshold or required
// signature) it accepts the bundle with a warning and Result.Verified false. A
// policy nothing could satisfy (a threshold above its keys, a required
// signature without keys) is an error ([Policy.Check], [ErrMisconfigured]);
// [TrustConfig] also refuses an explicitly named trust directory that is
// missing or empty. [Policy.AcceptUnverified] is the explicit opt-out that
// turns a refusal into a "NOT VERIFIED" warning. Which inputs need a signature
// at all is decided by package intake, the trust gate.
package verify
