package verify

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
	"google.golang.org/protobuf/encoding/protojson"
)

// BundleMediaType is the media type of the signature documents imgx writes.
const BundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"

// acceptedMediaTypes: the two spellings of Sigstore bundle v0.3.
var acceptedMediaTypes = map[string]bool{
	BundleMediaType: true,
	"application/vnd.dev.sigstore.bundle+json;version=0.3": true,
}

// maxSignatureSize bounds a signature document; real ones are under 1 KiB
// without a log entry and a few KiB with one.
const maxSignatureSize = 1 << 20

// Signature is the part of a Sigstore bundle imgx uses. Nothing in it is
// trusted until Policy.Verify has checked it.
type Signature struct {
	Hint      string // base64 SHA-256 of the signer's public key, may be empty
	Digest    []byte // SHA-256 the signer claims to have signed
	Signature []byte // ASN.1 DER (ECDSA) or PKCS#1 v1.5 (RSA)
}

// KeyID is the key ID the hint names, "" if there is no hint.
func (s *Signature) KeyID() string {
	if s.Hint == "" {
		return ""
	}
	return hintToID(s.Hint)
}

// ParseSignature reads a Sigstore bundle v0.3 JSON document holding a
// message signature with a public-key hint. Certificates (keyless signing)
// and DSSE envelopes are refused: imgx verifies against its own keys only.
func ParseSignature(b []byte) (*Signature, error) {
	if len(b) > maxSignatureSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMalformedSignature, len(b), maxSignatureSize)
	}
	var pb protobundle.Bundle
	// Unknown fields are ignored so that later v0.3 additions still parse;
	// only the fields checked below are ever used.
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, &pb); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedSignature, err)
	}
	if !acceptedMediaTypes[pb.GetMediaType()] {
		return nil, fmt.Errorf("%w: media type %q, want %q", ErrMalformedSignature, pb.GetMediaType(), BundleMediaType)
	}
	vm := pb.GetVerificationMaterial()
	if vm.GetCertificate() != nil || vm.GetX509CertificateChain() != nil {
		return nil, fmt.Errorf("%w: carries a certificate (keyless signing), imgx verifies with public keys only", ErrMalformedSignature)
	}
	ms := pb.GetMessageSignature()
	if ms == nil {
		if pb.GetDsseEnvelope() != nil {
			return nil, fmt.Errorf("%w: DSSE envelope (an attestation), want a message signature", ErrMalformedSignature)
		}
		return nil, fmt.Errorf("%w: no message signature", ErrMalformedSignature)
	}
	md := ms.GetMessageDigest()
	if md.GetAlgorithm() != protocommon.HashAlgorithm_SHA2_256 {
		return nil, fmt.Errorf("%w: message digest algorithm %s, want SHA2_256", ErrMalformedSignature, md.GetAlgorithm())
	}
	if len(md.GetDigest()) != sha256.Size {
		return nil, fmt.Errorf("%w: message digest of %d bytes, want %d", ErrMalformedSignature, len(md.GetDigest()), sha256.Size)
	}
	if len(ms.GetSignature()) == 0 {
		return nil, fmt.Errorf("%w: empty signature", ErrMalformedSignature)
	}
	return &Signature{
		Hint:      vm.GetPublicKey().GetHint(),
		Digest:    md.GetDigest(),
		Signature: ms.GetSignature(),
	}, nil
}

// Marshal encodes s as a Sigstore bundle v0.3 JSON document.
func (s *Signature) Marshal() ([]byte, error) {
	pb := &protobundle.Bundle{
		MediaType: BundleMediaType,
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content: &protobundle.VerificationMaterial_PublicKey{
				PublicKey: &protocommon.PublicKeyIdentifier{Hint: s.Hint},
			},
		},
		Content: &protobundle.Bundle_MessageSignature{
			MessageSignature: &protocommon.MessageSignature{
				MessageDigest: &protocommon.HashOutput{
					Algorithm: protocommon.HashAlgorithm_SHA2_256,
					Digest:    s.Digest,
				},
				Signature: s.Signature,
			},
		},
	}
	b, err := protojson.Marshal(pb)
	if err != nil {
		return nil, fmt.Errorf("marshal signature bundle: %w", err)
	}
	// protojson adds spaces at random, fixed per binary (its output is deliberately
	// unstable), so two builds of imgx wrote different signature bytes, hence different
	// bundles, for the same manifest and key: an upload interrupted before an upgrade
	// could not resume after it. Compact JSON is the same from every build.
	var c bytes.Buffer
	if err := json.Compact(&c, b); err != nil {
		return nil, fmt.Errorf("marshal signature bundle: %w", err)
	}
	return c.Bytes(), nil
}

// Sign signs message (the bundle manifest bytes) and returns a Sigstore
// bundle v0.3 JSON document that Policy.Verify and `cosign verify-blob`
// accept. signer is a *PrivateKey or any crypto.Signer holding an ECDSA or
// RSA key (an HSM, a KMS client).
func Sign(ctx context.Context, signer crypto.Signer, message []byte) ([]byte, error) {
	d := sha256.Sum256(message)
	return SignDigest(ctx, signer, d[:])
}

// SignDigest is Sign for a message whose SHA-256 the caller computed.
func SignDigest(ctx context.Context, signer crypto.Signer, digest []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(digest) != sha256.Size {
		return nil, fmt.Errorf("sign: digest of %d bytes, want a SHA-256 (%d)", len(digest), sha256.Size)
	}
	if signer == nil {
		return nil, errors.New("sign: no signing key")
	}
	pub, err := NewPublicKey(signer.Public())
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	var s signature.Signer
	switch k := signer.(type) {
	case *PrivateKey:
		s = k.sv
	default:
		s, err = signature.LoadSigner(k, crypto.SHA256)
		if err != nil {
			// Not a key type sigstore knows (an HSM or KMS handle): use
			// the crypto.Signer directly; for ECDSA and RSA that is the
			// same ASN.1 / PKCS#1 v1.5 encoding.
			s = &cryptoSigner{signer}
		}
	}
	var sig []byte
	if ek := ecdsaKey(signer); ek != nil {
		// RFC 6979 deterministic ECDSA (what ecdsa.PrivateKey.Sign does with a nil
		// random source): the same key over the same manifest gives the same bytes, so a
		// re-run of `imgx save` reproduces the bundle exactly and an interrupted upload
		// resumes instead of starting over. Security is that of randomised ECDSA.
		sig, err = ek.Sign(nil, digest, crypto.SHA256)
	} else {
		sig, err = s.SignMessage(nil, options.WithDigest(digest), options.WithContext(ctx), options.WithRand(rand.Reader))
	}
	if err != nil {
		return nil, fmt.Errorf("sign with key %s: %w", pub.ID(), err)
	}
	// Check our own output: a faulty signer (hardware, fault attack) must
	// not produce a bundle that fails later at a remote site.
	if err := verifyWith(pub, digest, sig); err != nil {
		return nil, fmt.Errorf("sign with key %s: signature does not verify: %w", pub.ID(), err)
	}
	return (&Signature{Hint: pub.Hint(), Digest: bytes.Clone(digest), Signature: sig}).Marshal()
}

func ecdsaKey(signer crypto.Signer) *ecdsa.PrivateKey {
	if k, ok := signer.(*PrivateKey); ok {
		signer = k.key
	}
	k, _ := signer.(*ecdsa.PrivateKey)
	return k
}

// cryptoSigner adapts a crypto.Signer to signature.Signer for SignDigest.
type cryptoSigner struct{ crypto.Signer }

func (c *cryptoSigner) PublicKey(...signature.PublicKeyOption) (crypto.PublicKey, error) {
	return c.Public(), nil
}

func (c *cryptoSigner) SignMessage(_ io.Reader, opts ...signature.SignOption) ([]byte, error) {
	var digest []byte
	rnd := io.Reader(rand.Reader)
	for _, o := range opts {
		o.ApplyDigest(&digest)
		o.ApplyRand(&rnd)
	}
	return c.Sign(rnd, digest, crypto.SHA256)
}

// verifyWith checks sig over digest with pub.
func verifyWith(pub PublicKey, digest, sig []byte) error {
	v, err := signature.LoadVerifier(pub.key, crypto.SHA256)
	if err != nil {
		return err
	}
	if err := v.VerifySignature(bytes.NewReader(sig), nil, options.WithDigest(digest)); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	return nil
}
