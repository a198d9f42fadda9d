package bundle

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/imgx/imgx/internal/testserver"
	"github.com/imgx/imgx/verify"
)

// FuzzVerify feeds arbitrary streams to the reader: it must never panic or hang, and
// whatever it accepts must have a manifest that round-trips.
func FuzzVerify(f *testing.F) {
	src := sourceStoreSmall(f)
	f.Add(save(f, src, []string{"small:1"}, SaveOptions{Compression: None}))
	f.Add(save(f, src, []string{"small:1"}, SaveOptions{}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := Verify(context.Background(), bytes.NewReader(data), VerifyOptions{Policy: verify.Policy{}})
		if err != nil || rep == nil {
			return
		}
		b, err := rep.Manifest.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseManifest(b); err != nil {
			t.Fatalf("accepted manifest does not round-trip: %v", err)
		}
	})
}

// FuzzParseManifest checks that parse then marshal then parse is stable.
func FuzzParseManifest(f *testing.F) {
	src := sourceStoreSmall(f)
	b := save(f, src, []string{"small:1"}, SaveOptions{Compression: None})
	f.Add(readEntries(f, b)[0].data)
	f.Add([]byte(`{"mediaType":"application/vnd.imgx.bundle.manifest.v1+json","formatVersion":"1.9"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(data)
		if err != nil {
			return
		}
		b1, _ := m.Marshal()
		m2, err := ParseManifest(b1)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		b2, _ := m2.Marshal()
		if !bytes.Equal(b1, b2) {
			t.Fatal("marshal is not stable")
		}
	})
}

func sourceStoreSmall(t testing.TB) *storeT {
	s := newStore(t)
	addImage(t, s, "small:1", layerSpec{seed: 5, size: 2000, gzip: true}, layerSpec{seed: 6, size: 700})
	return s
}

// TestSkopeoReadsPlainBundle: an uncompressed bundle is an oci-archive.
func TestSkopeoReadsPlainBundle(t *testing.T) {
	testserver.RequireTool(t, "skopeo", "apt-get install skopeo")
	ctx := context.Background()
	src := sourceStore(t)
	dir := t.TempDir()
	tarPath := filepath.Join(dir, "b.tar")
	os.WriteFile(tarPath, save(t, src, []string{"example/app:1", "example/web:2"}, SaveOptions{Compression: None}), 0o644)
	for _, name := range []string{"example/app:1", "example/web:2"} {
		out := filepath.Join(dir, "oci")
		cmd := exec.Command("skopeo", "copy", "--preserve-digests", "oci-archive:"+tarPath+":"+name, "oci:"+out+":"+name)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("skopeo copy %s: %v\n%s", name, err, b)
		}
		// The copied image has the digest of the source store.
		got, err := storeOpen(out)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := src.Resolve(ctx, name)
		bb, err := got.Resolve(ctx, name)
		if err != nil {
			t.Fatalf("after skopeo: %v", err)
		}
		if a.Desc.Digest != bb.Desc.Digest {
			t.Fatalf("%s: skopeo wrote %s, source has %s", name, bb.Desc.Digest, a.Desc.Digest)
		}
	}
}
