package intake

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/imgx/imgx/verify"
)

// TestVerifyFileRereads: a plain bundle given with Input.At (a local file) has its layers
// checked by workers that read the file again; an encrypted one, whose plaintext exists
// only as a stream, and one without At keep the one sequential pass. All verify.
func TestVerifyFileRereads(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2)) // one core keeps the stream path
	}
	ctx := context.Background()
	f, big := bigFixture(t)
	k := newAgeKey(t)
	pol := verify.Policy{Keys: []verify.PublicKey{f.pub}}
	dir := t.TempDir()
	write := func(name string, b []byte) *os.File {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		fh, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { fh.Close() })
		return fh
	}
	plain := write("b.imgx", big)
	enc := write("b.imgx.age", sealed(t, big, k.rcpt))
	tests := []struct {
		name    string
		in      Input
		readers int
	}{
		{name: "file", in: Input{Name: "b.imgx", R: plain, At: plain}, readers: 1},
		{name: "encrypted file", in: Input{Name: "b.imgx.age", R: enc, At: enc}, readers: 0},
		{name: "stream", in: Input{Name: "-", R: bytes.NewReader(big)}, readers: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := Verify(ctx, tt.in, VerifyOptions{Policy: pol, Identities: k.ids})
			if err != nil {
				t.Fatal(err)
			}
			if rep.LayerReaders != tt.readers || rep.LayersUnpacked != 1 {
				t.Fatalf("LayerReaders %d, LayersUnpacked %d; want %d and 1", rep.LayerReaders, rep.LayersUnpacked, tt.readers)
			}
		})
	}
}
