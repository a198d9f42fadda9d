package bundle

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/imgx/imgx/internal/testutil"
	"github.com/imgx/imgx/verify"
)

// TestHostileDataAfterEnd: bytes after the tar end-of-archive marker are covered by no
// signature. A signed bundle with a docker archive (or any other data) appended after its
// end marker, plain or as a further zstd frame, must not verify OK or load: a tool that
// reads concatenated archives (tar --ignore-zeros) would take the unsigned part as part
// of the bundle that imgx approved. Zero padding (a tar record, as GNU tar or dd leave)
// stays accepted. Load and Verify accepted the appended data before.
func TestHostileDataAfterEnd(t *testing.T) {
	ctx := context.Background()
	src := sourceStore(t)
	k := key(t, 1)
	pol := verify.Policy{Keys: []verify.PublicKey{k.pub}}
	plain := save(t, src, []string{"example/web:2"}, SaveOptions{Compression: None, Signers: []crypto.Signer{k.priv}})
	zst := save(t, src, []string{"example/web:2"}, SaveOptions{Signers: []crypto.Signer{k.priv}})
	other := save(t, src, []string{"example/web:2"}, SaveOptions{Compression: None}) // any tar
	frame := func(b []byte) []byte {
		zw, _ := zstd.NewWriter(nil)
		return zw.EncodeAll(b, nil)
	}
	cat := func(a ...[]byte) []byte { return bytes.Join(a, nil) }
	bad := map[string][]byte{
		"plain + tar":             cat(plain, other),
		"plain + one byte":        cat(plain, []byte{1}),
		"plain + zeros then data": cat(plain, make([]byte, 4096), []byte("x")),
		"zstd + zstd frame":       cat(zst, frame(other)),
	}
	dst := newStore(t)
	before := testutil.VisibleTreeHash(t, dst.Root())
	for name, data := range bad {
		t.Run(name, func(t *testing.T) {
			rep, err := Verify(ctx, bytes.NewReader(data), VerifyOptions{Policy: pol})
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Verify = %v (ok=%v), want ErrMalformed", err, rep != nil && rep.OK())
			}
			if _, err := Load(ctx, dst, bytes.NewReader(data), LoadOptions{Policy: pol}); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Load = %v, want ErrMalformed", err)
			}
			if after := testutil.VisibleTreeHash(t, dst.Root()); after != before {
				t.Fatalf("store changed:\n%s", treeDiff(before, after))
			}
		})
	}
	for name, data := range map[string][]byte{
		"plain + record padding": cat(plain, make([]byte, 10240-len(plain)%10240)),
		"zstd + zero frame":      cat(zst, frame(make([]byte, 9216))),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Verify(ctx, bytes.NewReader(data), VerifyOptions{Policy: pol}); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if _, err := Load(ctx, newStore(t), bytes.NewReader(data), LoadOptions{Policy: pol}); err != nil {
				t.Fatalf("Load: %v", err)
			}
		})
	}
}
