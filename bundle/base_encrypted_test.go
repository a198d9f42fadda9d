package bundle

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"filippo.io/age"

	"github.com/imgx/imgx/seal"
)

// An encrypted base is refused as such (seal.ErrEncrypted), so that every caller can say
// why a sender, which holds recipients and not identities, cannot read it.
func TestReadBaseEncrypted(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	src := sourceStore(t)
	plain := save(t, src, []string{"example/app:1"}, SaveOptions{})
	var sealed bytes.Buffer
	w, err := seal.NewWriter(&sealed, []age.Recipient{id.Recipient()}, seal.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(plain); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "night-1.imgx")
	if err := os.WriteFile(path, sealed.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = ReadBase(context.Background(), path)
	if !errors.Is(err, seal.ErrEncrypted) {
		t.Fatalf("ReadBase of an encrypted bundle: got %v, want seal.ErrEncrypted", err)
	}
}
