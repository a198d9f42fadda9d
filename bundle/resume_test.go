package bundle

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

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
	_, err := Verify(context.Background(), bytes.NewReader(z.Bytes()), verify.Policy{})
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
