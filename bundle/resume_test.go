package bundle

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/imgx/imgx/internal/testutil"
	"github.com/imgx/imgx/verify"
)

func TestInterruptedLoadResumes(t *testing.T) {
	src := sourceStore(t)
	b := save(t, src, []string{"example/app:1", "example/web:2"}, SaveOptions{Compression: None})
	dst := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	go func() {
		pw.Write(b[:len(b)*2/3])
		time.Sleep(300 * time.Millisecond) // let the loader stage what it has
		cancel()
		pw.CloseWithError(errors.New("connection lost"))
	}()
	_, err := Load(ctx, dst, pr, LoadOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted Load = %v, want context.Canceled", err)
	}
	if ents, _ := dst.Entries(); len(ents) != 0 {
		t.Fatalf("interrupted load tagged %d images", len(ents))
	}
	if rep, err := dst.Check(context.Background()); err != nil || !rep.OK() {
		t.Fatalf("store check after interruption: %v %v", err, rep.Problems)
	}
	staged, _ := os.ReadDir(filepath.Join(dst.Root(), ".imgx/staged/sha256"))
	t.Logf("err %v staged %d", err, len(staged))
	if len(staged) == 0 {
		t.Fatal("no verified blobs kept staged for the re-run")
	}
	res, err := Load(context.Background(), dst, bytes.NewReader(b), LoadOptions{})
	if err != nil {
		t.Fatalf("re-run: %v", err)
	}
	if res.BlobsSkipped != len(staged) {
		t.Fatalf("re-run skipped %d blobs, %d were staged", res.BlobsSkipped, len(staged))
	}
}

// A zstd bomb: a manifest entry that claims 1 GiB of zeros (about 40 KB compressed) is
// refused from its header, without decompressing it.
func TestZstdBomb(t *testing.T) {
	var z bytes.Buffer
	enc, _ := zstd.NewWriter(&z, zstd.WithEncoderLevel(zstd.SpeedFastest))
	tw := tar.NewWriter(enc)
	const size = 1 << 30
	tw.WriteHeader(&tar.Header{Name: ManifestName, Typeflag: tar.TypeReg, Size: size})
	zero := make([]byte, 1<<20)
	for range size / len(zero) {
		tw.Write(zero)
	}
	tw.Close()
	enc.Close()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	_, err := Verify(context.Background(), bytes.NewReader(z.Bytes()), VerifyOptions{Policy: verify.Policy{}})
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("Verify(bomb) = %v", err)
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("bomb took %v: it was decompressed", d)
	}
	if grew := int64(after.TotalAlloc - before.TotalAlloc); grew > 64<<20 {
		t.Fatalf("allocated %d MiB on a bomb", grew>>20)
	}
}

// A bundle stream cut short (`head -c N bundle | imgx load`, an ssh link that drops) keeps
// the blobs it verified staged, like Ctrl-C does: the full re-run reuses them, writing
// only the rest, and reports how many it reused.
func TestTruncatedLoadKeepsVerifiedBlobs(t *testing.T) {
	ctx := context.Background()
	src := sourceStore(t)
	refs := []string{"example/app:1", "example/web:2"}
	for _, comp := range []Compression{None, Zstd} {
		b := save(t, src, refs, SaveOptions{Compression: comp})
		ref, err := Load(ctx, newStore(t), bytes.NewReader(b), LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, pct := range []int{30, 60, 90, 99} {
			t.Run(fmt.Sprintf("%s/%d%%", comp, pct), func(t *testing.T) {
				dst := newStore(t)
				pr, pw := io.Pipe()
				go func() {
					pw.Write(b[:len(b)*pct/100])
					pw.CloseWithError(errors.New("connection lost"))
				}()
				if _, err := Load(ctx, dst, pr, LoadOptions{}); err == nil {
					t.Fatal("a cut-off bundle loaded")
				}
				staged := testutil.Staged(t, dst.Root())
				var stagedBytes int64
				for _, n := range staged {
					stagedBytes += n
				}
				if len(staged) == 0 {
					t.Fatal("no verified blob kept staged for the re-run")
				}
				res, err := Load(ctx, dst, bytes.NewReader(b), LoadOptions{})
				if err != nil {
					t.Fatalf("re-run: %v", err)
				}
				t.Logf("cut at %d/%d bytes: %d blobs (%d bytes) staged; re-run reused %d, wrote %d of %d bytes",
					len(b)*pct/100, len(b), len(staged), stagedBytes, res.BlobsReused, res.BytesWritten, ref.BytesWritten)
				if res.BlobsReused != len(staged) {
					t.Errorf("re-run reused %d blobs, %d were staged", res.BlobsReused, len(staged))
				}
				if res.BytesWritten != ref.BytesWritten-stagedBytes {
					t.Errorf("re-run wrote %d bytes, want %d (full load %d minus %d staged)", res.BytesWritten, ref.BytesWritten-stagedBytes, ref.BytesWritten, stagedBytes)
				}
				if left := testutil.Staged(t, dst.Root()); len(left) != 0 {
					t.Errorf("%d blobs still staged after the completed load", len(left))
				}
				if rep, err := dst.Check(ctx); err != nil || !rep.OK() || rep.Leftovers != 0 {
					t.Errorf("store check: %v %+v", err, rep)
				}
			})
		}
	}
}

// A blob whose bytes do not match its digest is never kept: the load fails at it, the
// blobs verified before it stay staged, and it is not among them.
func TestCorruptBlobNotKept(t *testing.T) {
	ctx := context.Background()
	src := sourceStore(t)
	b := save(t, src, []string{"example/app:1"}, SaveOptions{Compression: None})
	h, err := ReadHead(context.Background(), bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	m := h.Manifest
	last := m.Blobs[len(m.Blobs)-1]
	// Flip a byte in the middle of the last blob's data.
	off := bytes.LastIndex(b, []byte(blobsPrefix+last.Digest.Encoded()))
	if off < 0 {
		t.Fatal("last blob's entry not found")
	}
	bad := bytes.Clone(b)
	bad[off+512+int(last.Size)/2] ^= 0xff
	dst := newStore(t)
	_, err = Load(ctx, dst, bytes.NewReader(bad), LoadOptions{})
	if !errors.Is(err, ErrDigest) {
		t.Fatalf("Load(corrupt) = %v, want a digest error", err)
	}
	staged := testutil.Staged(t, dst.Root())
	if _, ok := staged[last.Digest.Encoded()]; ok {
		t.Fatal("the corrupt blob was kept staged")
	}
	if len(staged) != len(m.Blobs)-1 {
		t.Errorf("%d blobs staged, want the %d verified before the corrupt one", len(staged), len(m.Blobs)-1)
	}
}
