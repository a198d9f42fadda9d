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
