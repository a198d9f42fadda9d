package intake

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"

	"github.com/imgx/imgx/bundle"
	"github.com/imgx/imgx/image"
	"github.com/imgx/imgx/internal/testutil"
	"github.com/imgx/imgx/ref"
	"github.com/imgx/imgx/seal"
	"github.com/imgx/imgx/store"
	"github.com/imgx/imgx/verify"
)

// bigFixture adds an image with a 400 KB incompressible layer, so that its bundle spans
// several 64 KiB age chunks.
func bigFixture(t *testing.T) (*fixture, []byte) {
	t.Helper()
	ctx := context.Background()
	f := newFixture(t)
	var fs bytes.Buffer
	tw := tar.NewWriter(&fs)
	blob := make([]byte, 400_000)
	rand.Read(blob)
	tw.WriteHeader(&tar.Header{Name: "big", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(blob))})
	tw.Write(blob)
	tw.Close()
	tx, err := f.src.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d, err := image.Import(ctx, tx, &fs, image.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := ref.ParseNamed("example/big:1")
	tx.Tag(r, d)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := bundle.Save(ctx, f.src, []string{"example/big:1"}, &b, bundle.SaveOptions{Signers: []crypto.Signer{f.priv}}); err != nil {
		t.Fatal(err)
	}
	return f, b.Bytes()
}

type ageKey struct {
	rcpt age.Recipient
	ids  []age.Identity
}

func newAgeKey(t *testing.T) ageKey {
	file, rs, err := seal.GenerateIdentity(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r, err := seal.ParseRecipient(rs)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := seal.ReadIdentities(file, "key", nil)
	if err != nil {
		t.Fatal(err)
	}
	return ageKey{r, ids}
}

func sealed(t *testing.T, plain []byte, rcpts ...age.Recipient) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := seal.NewWriter(&buf, rcpts, seal.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(plain)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestEncryptedLoad: an encrypted signed bundle loads through the gate with the trust
// policy applied to the decrypted bundle, and verifies; so does one age itself wrote.
func TestEncryptedLoad(t *testing.T) {
	ctx := context.Background()
	f, big := bigFixture(t)
	k := newAgeKey(t)
	pol := verify.Policy{Keys: []verify.PublicKey{f.pub}}
	var byAge bytes.Buffer
	aw, _ := age.Encrypt(&byAge, k.rcpt)
	aw.Write(big)
	aw.Close()
	var armored bytes.Buffer
	arm := armor.NewWriter(&armored)
	aw, _ = age.Encrypt(arm, k.rcpt)
	aw.Write(big)
	aw.Close()
	arm.Close()
	for name, ct := range map[string][]byte{"seal": sealed(t, big, k.rcpt), "age": byAge.Bytes(), "age armored": armored.Bytes()} {
		dst, _ := store.Open(t.TempDir())
		res, err := Load(ctx, dst, Input{Name: name, R: bytes.NewReader(ct)}, Options{Policy: pol, Identities: k.ids})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !res.Verified || !res.Encrypted || len(res.Images) != 1 || res.Images[0].Tag != "example/big:1" {
			t.Fatalf("%s: %+v", name, res)
		}
		rep, err := Verify(ctx, Input{Name: name, R: bytes.NewReader(ct)}, VerifyOptions{Policy: pol, Identities: k.ids})
		if err != nil || !rep.OK() {
			t.Fatalf("%s: verify: %v", name, err)
		}
	}
}

// TestHostileEncrypted: every damaged, misdirected or unverifiable encrypted input is
// refused before anything is stored, with an error that says which, and the store's
// visible tree is unchanged.
func TestHostileEncrypted(t *testing.T) {
	ctx := context.Background()
	f, big := bigFixture(t)
	me, other := newAgeKey(t), newAgeKey(t)
	pol := verify.Policy{Keys: []verify.PublicKey{f.pub}}
	ct := sealed(t, big, me.rcpt)
	forOther := sealed(t, big, other.rcpt)
	hdrEnd := func(b []byte) int {
		i := bytes.Index(b, []byte("\n---")) + 1
		return i + bytes.IndexByte(b[i:], '\n') + 1
	}
	payload := hdrEnd(ct) + 16
	const enc = 64<<10 + 16
	chunks := (len(ct) - payload + enc - 1) / enc
	if chunks < 5 {
		t.Fatalf("fixture too small: %d chunks", chunks)
	}
	flip := func(i int) []byte {
		c := bytes.Clone(ct)
		c[i] ^= 1
		return c
	}
	type tc struct {
		in   []byte
		ids  []age.Identity
		pol  verify.Policy
		want error
	}
	cases := map[string]tc{
		"no identity, trust configured": {ct, nil, pol, seal.ErrEncrypted},
		"no identity, no trust":         {ct, nil, verify.Policy{}, seal.ErrEncrypted},
		"wrong identity":                {ct, other.ids, pol, seal.ErrNoMatch},
		"header for another recipient":  {append(bytes.Clone(forOther[:hdrEnd(forOther)]), ct[hdrEnd(ct):]...), me.ids, pol, seal.ErrNoMatch},
		"header MAC modified":           {flip(hdrEnd(ct) - 5), me.ids, pol, seal.ErrHeader},
		"truncated header":              {ct[:hdrEnd(ct)-10], me.ids, pol, seal.ErrHeader},
		"unsigned inside":               {sealed(t, f.unsigned, me.rcpt), me.ids, pol, verify.ErrUnsigned},
		"docker archive inside":         {sealed(t, f.dockerArchive, me.rcpt), me.ids, pol, ErrUnsignedFormat},
	}
	for i := 0; i < chunks; i++ {
		start := payload + i*enc
		end := min(start+enc, len(ct))
		cases[fmt.Sprintf("flipped byte in chunk %d", i)] = tc{flip(start + (end-start)/2), me.ids, pol, seal.ErrCiphertext}
		cases[fmt.Sprintf("truncated inside chunk %d", i)] = tc{ct[:start+(end-start)/2], me.ids, pol, seal.ErrCiphertext}
		if end < len(ct) {
			cases[fmt.Sprintf("truncated after chunk %d", i)] = tc{ct[:end], me.ids, pol, seal.ErrCiphertext}
		}
	}
	dst, _ := store.Open(t.TempDir())
	before := testutil.VisibleTreeHash(t, dst.Root())
	for name, c := range cases {
		_, err := Load(ctx, dst, Input{Name: name, R: bytes.NewReader(c.in)}, Options{Policy: c.pol, Identities: c.ids})
		if !errors.Is(err, c.want) {
			t.Errorf("%s: Load = %v, want %v", name, err, c.want)
		}
		if after := testutil.VisibleTreeHash(t, dst.Root()); after != before {
			t.Fatalf("%s: the store changed", name)
		}
		if _, err := Verify(ctx, Input{Name: name, R: bytes.NewReader(c.in)}, VerifyOptions{Policy: c.pol, Identities: c.ids}); err == nil {
			t.Errorf("%s: Verify passed", name)
		}
	}
	// The intact bundle still loads into the same store: nothing above poisoned it.
	if _, err := Load(ctx, dst, Input{Name: "ok", R: bytes.NewReader(ct)}, Options{Policy: pol, Identities: me.ids}); err != nil {
		t.Fatal(err)
	}
}

// TestEncryptedNeedsWholeStream: a reader that stops after the tar end would miss a
// missing last chunk; the load reads the age stream to its authenticated end.
func TestEncryptedNeedsWholeStream(t *testing.T) {
	f, _ := bigFixture(t)
	k := newAgeKey(t)
	// An uncompressed bundle followed by zero padding: the tar end falls in an early
	// chunk, and the padding (valid after a tar end) fills the chunks after it.
	padded := append(bytes.Clone(f.signedTar), make([]byte, 3*(64<<10))...)
	ct := sealed(t, padded, k.rcpt)
	hdr := bytes.Index(ct, []byte("\n---")) + 1
	payload := hdr + bytes.IndexByte(ct[hdr:], '\n') + 1 + 16
	cut := ct[:payload+2*(64<<10+16)]
	dst, _ := store.Open(t.TempDir())
	before := testutil.VisibleTreeHash(t, dst.Root())
	_, err := Load(context.Background(), dst, Input{Name: "cut", R: bytes.NewReader(cut)}, Options{Policy: verify.Policy{Keys: []verify.PublicKey{f.pub}}, Identities: k.ids})
	if !errors.Is(err, seal.ErrCiphertext) {
		t.Fatalf("Load = %v, want ErrCiphertext", err)
	}
	if testutil.VisibleTreeHash(t, dst.Root()) != before {
		t.Fatal("the store changed")
	}
}

// TestDetectDecryptDirect: the reader detectDecrypt gives the bundle path reads exactly
// the input's plaintext, from its first byte, whether detection buffered all of it or
// only its first MiB, plain or encrypted.
func TestDetectDecryptDirect(t *testing.T) {
	k := newAgeKey(t)
	for _, size := range []int{5000, 3<<20 + 17} {
		plain := make([]byte, size)
		for i := range plain {
			plain[i] = byte(i * 7 / 3)
		}
		copy(plain, bundleTarHead(t))
		for _, enc := range []bool{false, true} {
			in := plain
			if enc {
				in = sealed(t, plain, k.rcpt)
			}
			_, _, direct, encrypted, err := detectDecrypt(bytes.NewReader(in), k.ids)
			if err != nil || encrypted != enc {
				t.Fatalf("size %d encrypted %v: detectDecrypt = %v, encrypted %v", size, enc, err, encrypted)
			}
			got, err := io.ReadAll(direct)
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("size %d encrypted %v: read %d bytes (%v), want the %d of the plaintext", size, enc, len(got), err, len(plain))
			}
		}
	}
}

// bundleTarHead is the start of a tar stream whose first entry is a bundle manifest, so
// that detection reads like it would for a bundle.
func bundleTarHead(t *testing.T) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	if err := tw.WriteHeader(&tar.Header{Name: bundle.ManifestName, Mode: 0o644, Size: 2, Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte("{}"))
	tw.Flush()
	return b.Bytes()
}
