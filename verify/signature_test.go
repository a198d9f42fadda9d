package verify

import (
	"bytes"
	"context"
	"testing"
)

// Deterministic signatures make `imgx save` reproducible, which upload resume relies on.
func TestSignIsDeterministic(t *testing.T) {
	priv, _, err := GenerateKeyPair([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	k, err := LoadPrivateKey(priv, func() ([]byte, error) { return []byte("pw"), nil })
	if err != nil {
		t.Fatal(err)
	}
	a, err := Sign(context.Background(), k, []byte("manifest"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Sign(context.Background(), k, []byte("manifest"))
	if !bytes.Equal(a, b) {
		t.Error("two signatures of the same message differ")
	}
	c, _ := Sign(context.Background(), k, []byte("other manifest"))
	if bytes.Equal(a, c) {
		t.Error("signatures of different messages are equal")
	}
}

// The signature document is the same from every build of imgx: protojson's output varies
// its spaces per binary on purpose, so a signature written by it is compacted. (Whether
// the unfixed code fails here depends on this test binary's build: protojson picks its
// spaces from a hash of the binary. The bundles of two imgx builds differed.)
func TestSignatureMarshalIsCompact(t *testing.T) {
	s := &Signature{Hint: "aGludA==", Digest: bytes.Repeat([]byte{1}, 32), Signature: []byte{2, 3}}
	b, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":"aGludA=="}},"messageSignature":{"messageDigest":{"algorithm":"SHA2_256","digest":"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="},"signature":"AgM="}}`
	if string(b) != want {
		t.Errorf("Marshal =\n%s\nwant\n%s", b, want)
	}
}
