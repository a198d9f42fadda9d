package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgx/imgx/internal/testutil"
)

// bigImage has four layers of 96 KiB of incompressible data, so that a stream cut at 40%
// has staged at least one whole layer whatever the compression (a zstd decoder yields
// nothing of a 128 KiB block until it has all of it).
func bigImage(t *testing.T) testImage {
	im := testImage{tags: []string{"big:1"}}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 4 {
		body := make([]byte, 96<<10)
		for j := range body {
			body[j] = byte(r.Uint32())
		}
		im.layers = append(im.layers, mkTar(t, []ent{{name: fmt.Sprintf("f%d", i), body: body}}))
	}
	return im
}

// A docker-archive or oci-archive stream cut short keeps the blobs it verified staged; the
// full re-run reuses them (Result.BlobsReused), writing only the rest.
func TestTruncatedLoadKeepsVerifiedBlobs(t *testing.T) {
	ctx := context.Background()
	im := bigImage(t)
	for _, f := range []struct {
		name string
		data []byte
	}{
		{"docker-archive", legacyDocker(t, im)},
		{"oci-archive", ociArchive(t, false, im)},
		{"docker25", ociArchive(t, true, im)},
	} {
		for _, comp := range []struct {
			name string
			fn   func(testing.TB, []byte) []byte
		}{{"none", nil}, {"gzip", gz}, {"zstd", zst}} {
			data := f.data
			if comp.fn != nil {
				data = comp.fn(t, data)
			}
			ref, err := Load(ctx, newStore(t), bytes.NewReader(data), LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, pct := range []int{40, 70, 95} {
				t.Run(fmt.Sprintf("%s/%s/%d%%", f.name, comp.name, pct), func(t *testing.T) {
					s := newStore(t)
					pr, pw := io.Pipe()
					go func() {
						pw.Write(data[:len(data)*pct/100])
						pw.CloseWithError(errors.New("connection lost"))
					}()
					if _, err := Load(ctx, s, pr, LoadOptions{}); err == nil {
						t.Fatal("a cut-off archive loaded")
					}
					staged := testutil.Staged(t, s.Root())
					var stagedBytes int64
					for _, n := range staged {
						stagedBytes += n
					}
					if len(staged) == 0 {
						t.Fatal("no verified blob kept staged for the re-run")
					}
					res, err := Load(ctx, s, bytes.NewReader(data), LoadOptions{})
					if err != nil {
						t.Fatalf("re-run: %v", err)
					}
					t.Logf("%d blobs (%d bytes) staged; re-run reused %d, wrote %d of %d bytes",
						len(staged), stagedBytes, res.BlobsReused, res.BytesWritten, ref.BytesWritten)
					if res.BlobsReused != len(staged) {
						t.Errorf("re-run reused %d blobs, %d were staged", res.BlobsReused, len(staged))
					}
					if res.BytesWritten != ref.BytesWritten-stagedBytes {
						t.Errorf("re-run wrote %d bytes, want %d (full load %d minus %d staged)", res.BytesWritten, ref.BytesWritten-stagedBytes, ref.BytesWritten, stagedBytes)
					}
					checkStore(t, s)
				})
			}
		}
	}
}

// A layout directory whose last layer is corrupt: the load fails at it, the blobs verified
// before it stay staged, the corrupt one does not, and once the file is repaired the
// re-run reuses them.
func TestCorruptLayoutDirKeepsVerifiedBlobs(t *testing.T) {
	ctx := context.Background()
	im := bigImage(t)
	dir := t.TempDir()
	untar(t, ociArchive(t, true, im), dir) // uncompressed layers: digest = sha(layer)
	last := sha(im.layers[3])
	p := filepath.Join(dir, blobName(last))
	good, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(good)
	bad[len(bad)/2] ^= 1
	if err := writeFileForce(p, bad); err != nil {
		t.Fatal(err)
	}
	s := newStore(t)
	if _, err := LoadDir(ctx, s, dir, LoadOptions{}); !errors.Is(err, ErrBadEntry) {
		t.Fatalf("LoadDir(corrupt) = %v, want ErrBadEntry", err)
	}
	staged := testutil.Staged(t, s.Root())
	if _, ok := staged[last.Encoded()]; ok {
		t.Fatal("the corrupt layer was kept staged")
	}
	if len(staged) == 0 {
		t.Fatal("no verified blob kept staged")
	}
	if err := writeFileForce(p, good); err != nil {
		t.Fatal(err)
	}
	res, err := LoadDir(ctx, s, dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.BlobsReused != len(staged) {
		t.Errorf("re-run reused %d blobs, %d were staged", res.BlobsReused, len(staged))
	}
	checkStore(t, s)
}

// A stream cut exactly between two entries (no end-of-archive marker) is truncated, not
// an archive that lacks its metadata: the verified blobs stay staged, and the error says
// what happened.
func TestLoadCutAtEntryBoundary(t *testing.T) {
	ctx := context.Background()
	im := bigImage(t)
	for _, f := range []struct {
		name string
		data []byte
		at   string // the entry whose header the cut falls before
	}{
		{"docker-archive before manifest.json", legacyDocker(t, im), "manifest.json"},
		{"oci-archive before index.json", ociArchive(t, false, im), "index.json"},
		{"end-of-archive marker missing", ociArchive(t, false, im), ""},
	} {
		t.Run(f.name, func(t *testing.T) {
			cut := len(f.data) - 1024 // the two zero blocks
			if f.at != "" {
				cut = bytes.Index(f.data, []byte(f.at+"\x00")) / 512 * 512
			}
			s := newStore(t)
			_, err := Load(ctx, s, bytes.NewReader(f.data[:cut]), LoadOptions{})
			if err == nil || !strings.Contains(err.Error(), "truncated") {
				t.Fatalf("Load(cut at %d of %d) = %v, want a truncated archive", cut, len(f.data), err)
			}
			if len(testutil.Staged(t, s.Root())) == 0 {
				t.Error("no verified blob kept staged")
			}
		})
	}
	// One zero block instead of two still ends the archive (GNU tar accepts it too).
	s := newStore(t)
	data := ociArchive(t, false, im)
	if _, err := Load(ctx, s, bytes.NewReader(data[:len(data)-512]), LoadOptions{}); err != nil {
		t.Errorf("archive ending with one zero block: %v", err)
	}
}
