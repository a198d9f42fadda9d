package verify

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzVerify feeds arbitrary signature documents to a policy: it must never
// panic, and must never accept one that the trusted key did not make.
func FuzzVerify(f *testing.F) {
	dir := filepath.Join("testdata", "cosign-v2.6.5")
	pubPEM, err := os.ReadFile(filepath.Join(dir, "cosign.pub"))
	if err != nil {
		f.Fatal(err)
	}
	msg, err := os.ReadFile(filepath.Join(dir, "f.txt"))
	if err != nil {
		f.Fatal(err)
	}
	sig, err := os.ReadFile(filepath.Join(dir, "f.txt.sigstore.json"))
	if err != nil {
		f.Fatal(err)
	}
	pub, err := LoadPublicKey(pubPEM)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sig)
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`))
	f.Add([]byte(`{}`))
	p := Policy{Keys: []PublicKey{pub}}
	f.Fuzz(func(t *testing.T, doc []byte) {
		res, err := p.Verify(msg, [][]byte{doc})
		if err != nil {
			return
		}
		// Accepted: it must carry a valid signature by the trusted key over
		// this exact message.
		s, perr := ParseSignature(doc)
		if perr != nil || len(res.TrustedBy) != 1 || res.TrustedBy[0] != pub.ID() {
			t.Fatalf("accepted %q: parse %v, result %+v", doc, perr, res)
		}
		if verifyWith(pub, s.Digest, s.Signature) != nil {
			t.Fatalf("accepted a signature that does not verify: %q", doc)
		}
	})
}
