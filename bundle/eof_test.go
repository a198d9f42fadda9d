package bundle

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"testing"
	"testing/iotest"

	"github.com/imgx/imgx/internal/testutil"
	"github.com/imgx/imgx/verify"
)

// TestHostileTruncatedInPadding: docs/bundle-format.md requires the tar end-of-archive
// marker after the last blob. A bundle cut inside the last blob's padding, or right after
// it, or after one of the two zero blocks, must be refused by Load and Verify (archive/tar
// alone reports a clean end there).
func TestHostileTruncatedInPadding(t *testing.T) {
	ctx := context.Background()
	src := sourceStore(t)
	k := key(t, 1)
	pol := verify.Policy{Keys: []verify.PublicKey{k.pub}}
	good := save(t, src, []string{"example/web:2"}, SaveOptions{Compression: None, Signers: []crypto.Signer{k.priv}})
	es := readEntries(t, good)
	last := es[len(es)-1]
	// Find where the last entry's data ends: the final 1024 bytes are the end marker
	// (the writer adds no record padding), the padding sits before them.
	end := len(good) - 1024
	pad := int(-last.h.Size & 511)
	if pad == 0 {
		t.Fatalf("last blob %d bytes: no padding to cut into; change the fixture", last.h.Size)
	}
	if !bytes.Equal(good[end:], make([]byte, 1024)) {
		t.Fatal("bundle does not end with 1024 zero bytes")
	}
	dataEnd := end - pad
	cuts := map[string]int{
		"inside padding":           dataEnd + pad/2,
		"right after data":         dataEnd,
		"after padding, no marker": end,
		"after one zero block":     end + 512,
		"inside second zero block": end + 700,
	}
	dst := newStore(t)
	before := testutil.VisibleTreeHash(t, dst.Root()) // verified blobs may stay staged
	for name, off := range cuts {
		t.Run(name, func(t *testing.T) {
			data := good[:off]
			_, err := Load(ctx, dst, bytes.NewReader(data), LoadOptions{Policy: pol})
			if !errors.Is(err, ErrTruncated) {
				t.Fatalf("Load of bundle cut at %d/%d = %v, want ErrTruncated", off, len(good), err)
			}
			if after := testutil.VisibleTreeHash(t, dst.Root()); after != before {
				t.Fatalf("store changed:\n%s", treeDiff(before, after))
			}
			rep, err := Verify(ctx, bytes.NewReader(data), VerifyOptions{Policy: pol})
			if !errors.Is(err, ErrTruncated) {
				t.Fatalf("Verify = %v, want ErrTruncated (report ok=%v)", err, rep != nil && rep.OK())
			}
		})
	}
	if _, err := Load(ctx, dst, bytes.NewReader(good), LoadOptions{Policy: pol}); err != nil {
		t.Fatalf("the whole bundle: %v", err)
	}
}

// TestSourceErrorWrappingEOF: a source that fails with an error wrapping io.EOF (as
// x/crypto/ssh's "ssh: handshake failed: EOF" does after a lost server) is a failed read,
// not the end of the bundle: Load and Verify return that error, at any cut, and do not
// call the bundle empty or truncated.
func TestSourceErrorWrappingEOF(t *testing.T) {
	ctx := context.Background()
	src := sourceStore(t)
	k := key(t, 1)
	pol := verify.Policy{Keys: []verify.PublicKey{k.pub}}
	lost := fmt.Errorf("sftp: ssh: handshake failed: %w (gave up after 2 retries)", io.EOF)
	for _, c := range []Compression{Zstd, None} {
		good := save(t, src, []string{"example/web:2"}, SaveOptions{Compression: c, Signers: []crypto.Signer{k.priv}})
		for _, off := range []int{0, 100, len(good) / 2, len(good) - 1024, len(good) - 10} {
			t.Run(fmt.Sprintf("%s cut at %d of %d", c, off, len(good)), func(t *testing.T) {
				r := func() io.Reader { return io.MultiReader(bytes.NewReader(good[:off]), iotest.ErrReader(lost)) }
				if _, err := Load(ctx, newStore(t), r(), LoadOptions{Policy: pol}); !errors.Is(err, lost) || errors.Is(err, ErrTruncated) {
					t.Errorf("Load = %v, want the source's error", err)
				}
				if _, err := Verify(ctx, r(), VerifyOptions{Policy: pol}); !errors.Is(err, lost) || errors.Is(err, ErrTruncated) {
					t.Errorf("Verify = %v, want the source's error", err)
				}
			})
		}
	}
}
