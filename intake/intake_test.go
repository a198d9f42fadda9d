package intake

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgx/imgx/archive"
	"github.com/imgx/imgx/bundle"
	"github.com/imgx/imgx/image"
	"github.com/imgx/imgx/internal/testutil"
	"github.com/imgx/imgx/ref"
	"github.com/imgx/imgx/store"
	"github.com/imgx/imgx/verify"
)

type fixture struct {
	src                       *store.Store
	priv                      *verify.PrivateKey
	pub                       verify.PublicKey
	signed, signedTar         []byte // zstd bundle, uncompressed bundle, both signed
	unsigned                  []byte
	dockerArchive, ociArchive []byte
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	src, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var fs bytes.Buffer
	tw := tar.NewWriter(&fs)
	tw.WriteHeader(&tar.Header{Name: "hello", Typeflag: tar.TypeReg, Mode: 0o755, Size: 6})
	tw.Write([]byte("hello\n"))
	tw.Close()
	tx, err := src.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d, err := image.Import(ctx, tx, &fs, image.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := ref.ParseNamed("example/app:1")
	tx.Tag(r, d)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	privPEM, pubPEM, err := verify.GenerateKeyPair([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{src: src}
	if f.priv, err = verify.LoadPrivateKey(privPEM, verify.StaticPassword([]byte("pw"))); err != nil {
		t.Fatal(err)
	}
	if f.pub, err = verify.LoadPublicKey(pubPEM); err != nil {
		t.Fatal(err)
	}
	saveB := func(opts bundle.SaveOptions) []byte {
		var b bytes.Buffer
		if _, err := bundle.Save(ctx, src, []string{"example/app:1"}, &b, opts); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	f.signed = saveB(bundle.SaveOptions{Signers: []crypto.Signer{f.priv}})
	f.signedTar = saveB(bundle.SaveOptions{Compression: bundle.None, Signers: []crypto.Signer{f.priv}})
	f.unsigned = saveB(bundle.SaveOptions{})
	res, err := src.Resolve(ctx, "example/app:1")
	if err != nil {
		t.Fatal(err)
	}
	saveA := func(format archive.Format) []byte {
		var b bytes.Buffer
		if _, err := archive.Save(ctx, src, &b, []store.Resolved{res}, archive.SaveOptions{Format: format}); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	f.dockerArchive = saveA(archive.FormatDockerArchive)
	f.ociArchive = saveA(archive.FormatOCIArchive)
	return f
}

// dropFirst removes the first tar entry (imgx-bundle.json) of an uncompressed bundle: what
// is left is an oci-archive and docker-archive with every blob, but no signature.
func dropFirst(t *testing.T, b []byte) []byte {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(b))
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	for i := 0; ; i++ {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		if i == 0 {
			if h.Name != bundle.ManifestName {
				t.Fatalf("first entry %s", h.Name)
			}
			continue
		}
		tw.WriteHeader(h)
		tw.Write(data)
	}
	tw.Close()
	return out.Bytes()
}

func gz(b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(b)
	w.Close()
	return out.Bytes()
}

// TestHostileFormatBypass: with any trust configured, an input that is not an imgx bundle
// is refused whatever it is called and however it arrives (stream or directory), and the
// store is left byte-identical; the explicit opt-out lets it in with a NOT VERIFIED
// warning, and never reports it as verified.
func TestHostileFormatBypass(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	layoutDir := f.src.Root() // an OCI layout directory: the source store is one

	inputs := []struct {
		name string
		kind Kind
		data []byte
		dir  string
	}{
		{"docker-archive renamed release.imgx", KindDockerArchive, f.dockerArchive, ""},
		{"gzip docker-archive", KindDockerArchive, gz(f.dockerArchive), ""},
		{"oci-archive", KindOCIArchive, f.ociArchive, ""},
		{"signed bundle without its first entry", KindDockerArchive, dropFirst(t, f.signedTar), ""},
		{"OCI layout directory", KindOCILayout, nil, layoutDir},
	}
	policies := []struct {
		name string
		pol  verify.Policy
	}{
		{"key", verify.Policy{Keys: []verify.PublicKey{f.pub}}},
		{"key and required signature", verify.Policy{Keys: []verify.PublicKey{f.pub}, RequireSignature: true}},
		{"key and threshold 1", verify.Policy{Keys: []verify.PublicKey{f.pub}, Threshold: 1}},
	}
	dst, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sentinel := t.TempDir()
	os.WriteFile(filepath.Join(sentinel, "keep"), []byte("x"), 0o644)
	before, beforeS := testutil.TreeHash(t, dst.Root()), testutil.TreeHash(t, sentinel)
	for _, in := range inputs {
		for _, p := range policies {
			t.Run(in.name+"/"+p.name, func(t *testing.T) {
				src := Input{Name: "release.imgx", Dir: in.dir}
				if in.dir == "" {
					src.R = bytes.NewReader(in.data)
				}
				res, err := Load(ctx, dst, src, Options{Policy: p.pol})
				if !errors.Is(err, ErrUnsignedFormat) {
					t.Fatalf("Load = %+v, %v; want ErrUnsignedFormat", res, err)
				}
				if !strings.Contains(err.Error(), string(in.kind)) {
					t.Errorf("error %q does not say it is %s", err, in.kind)
				}
				if after := testutil.TreeHash(t, dst.Root()); after != before {
					t.Fatal("store changed by a refused input")
				}
				if after := testutil.TreeHash(t, sentinel); after != beforeS {
					t.Fatal("sentinel tree changed")
				}
				// ingest's mode refuses it even without trust.
				if in.dir == "" {
					src.R = bytes.NewReader(in.data)
				}
				if _, err := Load(ctx, dst, src, Options{BundlesOnly: true}); !errors.Is(err, ErrNotBundle) {
					t.Fatalf("BundlesOnly Load = %v, want ErrNotBundle", err)
				}
				// verify refuses it as not a bundle.
				if in.dir == "" {
					src.R = bytes.NewReader(in.data)
				}
				if _, err := Verify(ctx, src, VerifyOptions{Policy: p.pol}); !errors.Is(err, ErrNotBundle) {
					t.Fatalf("Verify = %v, want ErrNotBundle", err)
				}
			})
		}
		t.Run(in.name+"/opt-out", func(t *testing.T) {
			d, _ := store.Open(t.TempDir())
			src := Input{Name: "release.imgx", Dir: in.dir}
			if in.dir == "" {
				src.R = bytes.NewReader(in.data)
			}
			pol := verify.Policy{Keys: []verify.PublicKey{f.pub}, AcceptUnverified: true}
			res, err := Load(ctx, d, src, Options{Policy: pol})
			if err != nil {
				t.Fatal(err)
			}
			if res.Verified || len(res.Warnings) == 0 || !strings.HasPrefix(res.Warnings[0], verify.NotVerifiedPrefix) {
				t.Fatalf("opt-out result: verified=%v warnings=%q", res.Verified, res.Warnings)
			}
			if len(res.Images) == 0 || res.Images[0].Tag != "example/app:1" {
				t.Fatalf("images %+v", res.Images)
			}
		})
	}
	// The signed bundle goes through, verified, from any reader.
	for _, b := range [][]byte{f.signed, f.signedTar} {
		res, err := Load(ctx, dst, Input{Name: "release.imgx", R: io.MultiReader(bytes.NewReader(b))}, Options{Policy: policies[0].pol})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Verified || res.Kind != KindBundle || len(res.TrustedBy) != 1 || res.Images[0].Tag != "example/app:1" {
			t.Fatalf("signed bundle: %+v", res)
		}
	}
}

// TestHostileUnsignedBundleUnderTrust: an unsigned bundle is refused under trust; with the
// opt-out it loads, unverified, with a warning.
func TestHostileUnsignedBundleUnderTrust(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	dst, _ := store.Open(t.TempDir())
	pol := verify.Policy{Keys: []verify.PublicKey{f.pub}}
	if _, err := Load(ctx, dst, Input{Name: "u.imgx", R: bytes.NewReader(f.unsigned)}, Options{Policy: pol}); !errors.Is(err, verify.ErrUnsigned) {
		t.Fatalf("Load = %v, want ErrUnsigned", err)
	}
	pol.AcceptUnverified = true
	res, err := Load(ctx, dst, Input{Name: "u.imgx", R: bytes.NewReader(f.unsigned)}, Options{Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verified || len(res.Warnings) != 1 || !strings.HasPrefix(res.Warnings[0], verify.NotVerifiedPrefix) {
		t.Fatalf("verified=%v warnings=%q", res.Verified, res.Warnings)
	}
}

// TestHostileMisconfiguredTrust: a policy nothing can satisfy is an error before the
// input is read, not a warning that lets unsigned input in.
func TestHostileMisconfiguredTrust(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	dst, _ := store.Open(t.TempDir())
	for name, pol := range map[string]verify.Policy{
		"threshold 2, no keys":     {Threshold: 2},
		"threshold 1, no keys":     {Threshold: 1},
		"threshold 2, one key":     {Keys: []verify.PublicKey{f.pub}, Threshold: 2},
		"signature required, none": {RequireSignature: true},
		"opt-out does not excuse":  {Threshold: 2, AcceptUnverified: true},
	} {
		t.Run(name, func(t *testing.T) {
			for _, data := range [][]byte{f.unsigned, f.signed, f.dockerArchive} {
				r := &countingReader{r: bytes.NewReader(data)}
				_, err := Load(ctx, dst, Input{Name: "b.imgx", R: r}, Options{Policy: pol})
				if err == nil {
					t.Fatal("Load accepted input under a misconfigured policy")
				}
				if r.n != 0 {
					t.Fatalf("read %d bytes of input before refusing the policy", r.n)
				}
				if _, err := Verify(ctx, Input{Name: "b.imgx", R: bytes.NewReader(data)}, VerifyOptions{Policy: pol}); err == nil {
					t.Fatal("Verify passed under a misconfigured policy")
				}
			}
		})
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestHostileVerifyWithoutKey: with no trusted key, Verify never reports success unless
// digest-only checking was chosen, and then the report is not Verified.
func TestHostileVerifyWithoutKey(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	rep, err := Verify(ctx, Input{Name: "b.imgx", R: bytes.NewReader(f.signed)}, VerifyOptions{})
	if !errors.Is(err, ErrNotVerified) || rep == nil || rep.OK() {
		t.Fatalf("Verify without key = %v (ok=%v), want ErrNotVerified", err, rep != nil && rep.OK())
	}
	rep, err = Verify(ctx, Input{Name: "b.imgx", R: bytes.NewReader(f.signed)}, VerifyOptions{DigestOnly: true})
	if err != nil || !rep.OK() || rep.Signature.Verified {
		t.Fatalf("digest-only: err=%v ok=%v verified=%v", err, rep.OK(), rep.Signature.Verified)
	}
	if _, err := Verify(ctx, Input{Name: "b.imgx", R: bytes.NewReader(f.signed)}, VerifyOptions{DigestOnly: true, Policy: verify.Policy{Keys: []verify.PublicKey{f.pub}}}); err == nil {
		t.Fatal("digest-only with a key accepted")
	}
	// With the key, verified; an opt-out policy does not soften verify.
	rep, err = Verify(ctx, Input{Name: "b.imgx", R: bytes.NewReader(f.unsigned)}, VerifyOptions{Policy: verify.Policy{Keys: []verify.PublicKey{f.pub}, AcceptUnverified: true}})
	if err == nil || rep.OK() {
		t.Fatal("Verify passed an unsigned bundle because the policy accepts unverified input")
	}
	rep, err = Verify(ctx, Input{Name: "b.imgx", R: bytes.NewReader(f.signed)}, VerifyOptions{Policy: verify.Policy{Keys: []verify.PublicKey{f.pub}}})
	if err != nil || !rep.Signature.Verified {
		t.Fatalf("signed: %v", err)
	}
}
