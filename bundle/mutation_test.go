package bundle

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/imgx/imgx/internal/testutil"
	"github.com/imgx/imgx/verify"
)

type entry struct {
	h    *tar.Header
	data []byte
}

func readEntries(t testing.TB, b []byte) []entry {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(b))
	var es []entry
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		data := make([]byte, h.Size)
		if _, err := tr.Read(data); err != nil && h.Size > 0 && err.Error() != "EOF" {
			t.Fatal(err)
		}
		es = append(es, entry{h, data})
	}
	return es
}

func writeEntries(t testing.TB, es []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		h := *e.h
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		tw.Write(e.data)
	}
	tw.Close()
	return buf.Bytes()
}

func find(es []entry, pred func(entry) bool) int {
	for i, e := range es {
		if pred(e) {
			return i
		}
	}
	panic("no such entry")
}

func flipByte(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x20
	return c
}

// patchSize rewrites the size field of the ustar header of entry name, fixing the checksum.
func patchSize(t testing.TB, b []byte, name string, size int64) []byte {
	t.Helper()
	c := bytes.Clone(b)
	for off := 0; off+512 <= len(c); off += 512 {
		blk := c[off : off+512]
		if string(bytes.TrimRight(blk[:100], "\x00")) != name {
			continue
		}
		copy(blk[124:136], fmt.Sprintf("%011o\x00", size))
		copy(blk[148:156], "        ")
		var sum int64
		for _, x := range blk {
			sum += int64(x)
		}
		copy(blk[148:156], fmt.Sprintf("%06o\x00 ", sum))
		return c
	}
	t.Fatalf("no header for %s", name)
	return nil
}

func isBlobOf(kind string, es []entry) func(entry) bool {
	// kind: manifest, config, gzip (layer), plain (layer)
	return func(e entry) bool {
		if !strings.HasPrefix(e.h.Name, blobsPrefix) {
			return false
		}
		m, _ := ParseManifest(es[0].data)
		for _, d := range m.Blobs {
			if blobPath(d.Digest) != e.h.Name {
				continue
			}
			switch kind {
			case "manifest":
				return strings.HasSuffix(d.MediaType, "manifest.v1+json")
			case "config":
				return strings.HasSuffix(d.MediaType, "config.v1+json")
			case "gzip":
				return strings.HasSuffix(d.MediaType, "tar+gzip")
			case "plain":
				return strings.HasSuffix(d.MediaType, "tar")
			}
		}
		return false
	}
}

// TestMutations feeds damaged bundles to Load (plain and zstd-compressed) and checks that
// each gives the expected error and leaves the store byte-for-byte unchanged.
func TestMutations(t *testing.T) {
	ctx := context.Background()
	src := sourceStore(t)
	k1, k2 := key(t, 1), key(t, 2)
	trust1 := verify.Policy{Keys: []verify.PublicKey{k1.pub}}
	good := save(t, src, []string{"example/app:1", "example/web:2"}, SaveOptions{Compression: None, Signers: []crypto.Signer{k1.priv}})
	goodZ := save(t, src, []string{"example/app:1", "example/web:2"}, SaveOptions{Signers: []crypto.Signer{k1.priv}})
	other := save(t, src, []string{"example/web:2"}, SaveOptions{Compression: None, Signers: []crypto.Signer{k1.priv}})
	es := readEntries(t, good)
	mut := func(f func(es []entry) []entry) []byte {
		c := make([]entry, len(es))
		for i, e := range es {
			h := *e.h
			c[i] = entry{&h, bytes.Clone(e.data)}
		}
		return writeEntries(t, f(c))
	}
	layer := find(es, isBlobOf("gzip", es))
	lastLayer := len(es) - 1

	type tc struct {
		name   string
		data   []byte
		policy verify.Policy
		want   []error
		msg    string
	}
	tests := []tc{
		{name: "manifest digest byte", want: []error{ErrSignature, verify.ErrDigestMismatch}, data: mut(func(es []entry) []entry {
			i := bytes.Index(es[0].data, []byte(`"digest": "sha256:`)) + 20
			es[0].data[i] = "123456789abcdef0"[strings.IndexByte("0123456789abcdef", es[0].data[i])] // always another hex digit
			return es
		})},
		{name: "manifest created byte", want: []error{ErrSignature, verify.ErrDigestMismatch}, data: mut(func(es []entry) []entry {
			i := bytes.Index(es[0].data, []byte(`"created": "`)) + 13
			es[0].data[i] = '1' ^ es[0].data[i] ^ '2' // one digit changed: still a valid time
			return es
		})},
		{name: "signature byte", want: []error{ErrSignature}, data: mut(func(es []entry) []entry {
			i := bytes.Index(es[1].data, []byte(`"signature":"`)) + 20
			es[1].data = flipByte(es[1].data, i)
			return es
		})},
		{name: "untrusted key", policy: verify.Policy{Keys: []verify.PublicKey{k2.pub}}, want: []error{ErrSignature, verify.ErrUntrustedSigner}, data: good},
		{name: "unsigned", want: []error{ErrSignature, verify.ErrUnsigned}, data: mut(func(es []entry) []entry { return append(es[:1], es[2:]...) })},
		{name: "replayed signature", want: []error{ErrSignature, verify.ErrDigestMismatch}, data: mut(func(es []entry) []entry {
			es[1].data = readEntries(t, other)[1].data
			return es
		})},
		{name: "index.json byte", want: []error{ErrDigest}, msg: "index.json", data: mut(func(es []entry) []entry {
			es[3].data = flipByte(es[3].data, 5)
			return es
		})},
		{name: "manifest blob byte", want: []error{ErrDigest}, data: mut(func(es []entry) []entry {
			i := find(es, isBlobOf("manifest", es))
			es[i].data = flipByte(es[i].data, len(es[i].data)/2)
			return es
		})},
		{name: "config blob byte", want: []error{ErrDigest}, data: mut(func(es []entry) []entry {
			i := find(es, isBlobOf("config", es))
			es[i].data = flipByte(es[i].data, len(es[i].data)/2)
			return es
		})},
		{name: "gzip layer byte", want: []error{ErrDigest}, data: mut(func(es []entry) []entry {
			es[layer].data = flipByte(es[layer].data, len(es[layer].data)-3)
			return es
		})},
		{name: "plain layer byte", want: []error{ErrDigest}, data: mut(func(es []entry) []entry {
			i := find(es, isBlobOf("plain", es))
			es[i].data = flipByte(es[i].data, 1000)
			return es
		})},
		{name: "layers reordered", want: []error{ErrMalformed}, msg: "where", data: mut(func(es []entry) []entry {
			es[layer], es[lastLayer] = es[lastLayer], es[layer]
			return es
		})},
		{name: "config after layer", want: []error{ErrMalformed}, data: mut(func(es []entry) []entry {
			i := find(es, isBlobOf("config", es))
			e := es[i]
			es = append(es[:i], es[i+1:]...)
			return append(es[:layer], append([]entry{e}, es[layer:]...)...)
		})},
		{name: "duplicated layer", want: []error{ErrMalformed}, data: mut(func(es []entry) []entry {
			return append(es[:layer+1], es[layer:]...)
		})},
		{name: "added entry at end", want: []error{ErrMalformed}, msg: "not listed", data: mut(func(es []entry) []entry {
			return append(es, entry{&tar.Header{Name: "extra", Typeflag: tar.TypeReg, Mode: 0o644}, []byte("hi")})
		})},
		{name: "added entry in middle", want: []error{ErrMalformed}, data: mut(func(es []entry) []entry {
			return append(es[:layer], append([]entry{{&tar.Header{Name: "blobs/sha256/extra", Typeflag: tar.TypeReg}, []byte("x")}}, es[layer:]...)...)
		})},
		{name: "dotdot name", want: []error{ErrUnsafePath}, data: mut(func(es []entry) []entry {
			es[layer].h.Name = "../" + es[layer].h.Name
			return es
		})},
		{name: "absolute name", want: []error{ErrUnsafePath}, data: mut(func(es []entry) []entry {
			es[layer].h.Name = "/" + es[layer].h.Name
			return es
		})},
		{name: "symlink", want: []error{ErrMalformed}, msg: "symlink", data: mut(func(es []entry) []entry {
			es[layer] = entry{&tar.Header{Name: es[layer].h.Name, Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}, nil}
			return es
		})},
		{name: "hard link", want: []error{ErrMalformed}, msg: "hard link", data: mut(func(es []entry) []entry {
			es[layer] = entry{&tar.Header{Name: es[layer].h.Name, Typeflag: tar.TypeLink, Linkname: es[layer-1].h.Name}, nil}
			return es
		})},
		{name: "directory entry", want: []error{ErrMalformed}, data: mut(func(es []entry) []entry {
			return append(es[:4], append([]entry{{&tar.Header{Name: "blobs/", Typeflag: tar.TypeDir, Mode: 0o755}, nil}}, es[4:]...)...)
		})},
		{name: "header size larger than data", want: []error{ErrSize}, data: patchSize(t, good, es[layer].h.Name, es[layer].h.Size+4096)},
		{name: "header size smaller", want: []error{ErrSize}, data: patchSize(t, good, es[layer].h.Name, es[layer].h.Size-1)},
		{name: "pax bomb", want: []error{ErrTooLarge}, data: mut(func(es []entry) []entry {
			for i := 4; i < len(es); i++ {
				es[i].h.PAXRecords = map[string]string{"comment": strings.Repeat("A", 900<<10)}
				es[i].h.Format = tar.FormatPAX
			}
			return es
		})},
		{name: "manifest too large", want: []error{ErrMalformed}, msg: "limit", data: writeEntries(t, []entry{{&tar.Header{Name: ManifestName, Typeflag: tar.TypeReg}, make([]byte, maxManifestSize+1)}})},
		{name: "not a bundle", want: []error{ErrNotBundle}, data: writeEntries(t, es[2:])},
		{name: "empty", want: []error{ErrNotBundle}, data: nil},
		{name: "future version", want: []error{ErrVersion}, data: mut(func(es []entry) []entry {
			es[0].data = bytes.Replace(es[0].data, []byte(`"formatVersion": "1.0"`), []byte(`"formatVersion": "7.3"`), 1)
			return es
		})},
	}
	// Truncation at many offsets, before the end-of-archive blocks.
	for i := 1; i <= 24; i++ {
		off := (len(good) - 1024) * i / 25
		tests = append(tests, tc{name: "truncated at " + strconv.Itoa(off), data: good[:off]})
	}

	dst := newStore(t)
	addImage(t, dst, "existing/img:1", layerSpec{seed: 42, size: 1000})
	before := testutil.VisibleTreeHash(t, dst.Root())
	enc, _ := zstd.NewWriter(nil)
	for _, tt := range tests {
		for _, comp := range []string{"plain", "zstd"} {
			if comp == "zstd" && len(tt.data) == 0 {
				continue // an empty stream has no zstd form
			}
			t.Run(tt.name+"/"+comp, func(t *testing.T) {
				data := tt.data
				if comp == "zstd" {
					data = enc.EncodeAll(data, nil)
					if strings.HasPrefix(tt.name, "truncated") {
						// Truncate the compressed stream instead.
						data = goodZ[:len(goodZ)*len(tt.data)/len(good)]
					}
				}
				policy := tt.policy
				if policy.Keys == nil {
					policy = trust1
				}
				_, err := Load(ctx, dst, bytes.NewReader(data), LoadOptions{Policy: policy})
				if err == nil {
					t.Fatal("Load succeeded")
				}
				for _, w := range tt.want {
					if !errors.Is(err, w) {
						t.Fatalf("Load = %v\nwant errors.Is %v", err, w)
					}
				}
				if tt.msg != "" && !strings.Contains(err.Error(), tt.msg) {
					t.Fatalf("Load = %v, want it to mention %q", err, tt.msg)
				}
				if after := testutil.VisibleTreeHash(t, dst.Root()); after != before {
					t.Fatalf("store changed after rejected load (%v):\n%s", err, treeDiff(before, after))
				}
				// Verify must reject it too.
				if _, err := Verify(ctx, bytes.NewReader(data), VerifyOptions{Policy: policy}); err == nil {
					t.Fatal("Verify accepted it")
				}
			})
		}
	}
	// And the undamaged bundle still loads into that store.
	if _, err := Load(ctx, dst, bytes.NewReader(good), LoadOptions{Policy: trust1}); err != nil {
		t.Fatal(err)
	}
}

// treeDiff lists the lines of two treeHash listings that differ.
func treeDiff(before, after string) string {
	b, a := map[string]bool{}, map[string]bool{}
	for _, l := range strings.Split(before, "\n") {
		b[l] = true
	}
	var out []string
	for _, l := range strings.Split(after, "\n") {
		a[l] = true
		if !b[l] {
			out = append(out, "+ "+l)
		}
	}
	for l := range b {
		if !a[l] {
			out = append(out, "- "+l)
		}
	}
	return strings.Join(out, "\n")
}
