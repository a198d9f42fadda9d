package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/internal/storetest"
	"github.com/imgx/imgx/store"
	"github.com/imgx/imgx/verify"
)

// layerSpec describes a test layer: files of given sizes, random (incompressible) or text.
type layerSpec struct {
	seed   uint64
	size   int
	random bool
	mixed  bool // random words: compresses about 3:1 and inflates slowly, like real layers
	gzip   bool
}

// layerTar builds a layer tar deterministically from spec.
func layerTar(t testing.TB, l layerSpec) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	data := make([]byte, l.size)
	if l.random {
		r := rand.New(rand.NewPCG(l.seed, 1))
		for i := range data {
			data[i] = byte(r.Uint32())
		}
	} else if l.mixed {
		r := rand.New(rand.NewPCG(l.seed, 2))
		words := strings.Fields("the quick brown fox jumps over lazy dog usr lib bin share etc var opt local python3 site packages include libc so conf")
		for i := 0; i < len(data); {
			w := words[r.IntN(len(words))]
			i += copy(data[i:], w)
			if i < len(data) {
				data[i] = " /\n"[r.IntN(3)]
				i++
			}
		}
	} else {
		line := []byte("the quick brown fox jumps over the lazy dog " + strings.Repeat("x", int(l.seed%17)) + "\n")
		for i := range data {
			data[i] = line[i%len(line)]
		}
	}
	name := "file-" + hex.EncodeToString([]byte{byte(l.seed)})
	tw.WriteHeader(&tar.Header{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "etc/" + name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data))})
	tw.Write(data)
	tw.Close()
	return buf.Bytes()
}

// addImage writes an image with the given layers into s and tags it.
func addImage(t testing.TB, s *store.Store, tag string, layers ...layerSpec) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	tx, err := s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Discard()
	var cfg ocispec.Image
	cfg.OS, cfg.Architecture = "linux", "amd64"
	cfg.RootFS.Type = "layers"
	cfg.Config.Env = []string{"PATH=/usr/bin"}
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cfg.Created = &created
	var lds []ocispec.Descriptor
	for _, l := range layers {
		raw := layerTar(t, l)
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, digest.FromBytes(raw))
		mt, blob := ocispec.MediaTypeImageLayer, raw
		if l.gzip {
			var gz bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
			zw.Write(raw)
			zw.Close()
			mt, blob = ocispec.MediaTypeImageLayerGzip, gz.Bytes()
		}
		d, err := tx.PutBytes(ctx, mt, blob)
		if err != nil {
			t.Fatal(err)
		}
		lds = append(lds, d)
	}
	cb, _ := json.Marshal(cfg)
	cd, err := tx.PutBytes(ctx, ocispec.MediaTypeImageConfig, cb)
	if err != nil {
		t.Fatal(err)
	}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cd, Layers: lds}
	m.SchemaVersion = 2
	mb, _ := json.Marshal(m)
	md := storetest.Commit(t, tx, tag, ocispec.MediaTypeImageManifest, mb)
	return md
}

func newStore(t testing.TB) *store.Store {
	t.Helper()
	s, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type testKey struct {
	priv *verify.PrivateKey
	pub  verify.PublicKey
}

var keyCache = map[int]testKey{}

// key returns test key n (generation runs scrypt: cache it).
func key(t testing.TB, n int) testKey {
	t.Helper()
	if k, ok := keyCache[n]; ok {
		return k
	}
	privPEM, pubPEM, err := verify.GenerateKeyPair([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	priv, err := verify.LoadPrivateKey(privPEM, verify.StaticPassword([]byte("pw")))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := verify.LoadPublicKey(pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	keyCache[n] = testKey{priv, pub}
	return keyCache[n]
}

// sourceStore holds two images sharing a base layer, one gzip layer each, plus one
// uncompressed layer.
func sourceStore(t testing.TB) *store.Store {
	s := newStore(t)
	base := layerSpec{seed: 1, size: 300 << 10, random: true, gzip: true}
	addImage(t, s, "example/app:1", base, layerSpec{seed: 2, size: 200 << 10}, layerSpec{seed: 3, size: 50 << 10, random: true, gzip: true})
	addImage(t, s, "example/web:2", base, layerSpec{seed: 4, size: 100 << 10, gzip: true})
	return s
}

func save(t testing.TB, s *store.Store, refs []string, opts SaveOptions) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := Save(context.Background(), s, refs, &buf, opts); err != nil {
		t.Fatalf("Save: %v", err)
	}
	return buf.Bytes()
}

// tarEntries lists the entry names of an uncompressed bundle.
func tarEntries(t testing.TB, b []byte) []string {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(b))
	var names []string
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, h.Name)
	}
	return names
}

type storeT = store.Store

func storeOpen(root string) (*store.Store, error) { return store.Open(root) }
