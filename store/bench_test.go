package store

import (
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// BenchmarkPut measures verified ingest (read, sha256, write, fsync) of one 64 MiB blob:
// the inner loop of every load. Compare with BenchmarkHashOnly, the floor.
func BenchmarkPut(b *testing.B) {
	data := make([]byte, 64<<20)
	rand.New(rand.NewSource(1)).Read(data)
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.SetBytes(int64(len(data)))
	for i := 0; i < b.N; i++ {
		data[0] = byte(i) // a new blob each time, so nothing is deduplicated
		tx, _ := s.Begin(ctx)
		if _, err := tx.Put(ctx, bytes.NewReader(data), ocispec.Descriptor{Size: -1}); err != nil {
			b.Fatal(err)
		}
		tx.Discard()
	}
}

func BenchmarkHashOnly(b *testing.B) {
	data := make([]byte, 64<<20)
	rand.New(rand.NewSource(1)).Read(data)
	ctx := context.Background()
	b.SetBytes(int64(len(data)))
	for i := 0; i < b.N; i++ {
		if _, _, err := hashCopy(ctx, discard{}, bytes.NewReader(data), -1); err != nil {
			b.Fatal(err)
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkPrune measures a prune that has nothing to delete in a store of 1000 images:
// the cost of reading and verifying every manifest before deleting anything.
func BenchmarkPrune(b *testing.B) {
	ctx := context.Background()
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	tx, _ := s.Begin(ctx)
	for i := 0; i < 1000; i++ {
		md := stageImage(b, tx, []byte(fmt.Sprint("layer ", i)))
		tx.Tag(mustRef(b, fmt.Sprintf("app:%d", i)), md)
	}
	if err := tx.Commit(ctx); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rep, err := s.Prune(ctx)
		if err != nil || len(rep.Blobs) != 0 {
			b.Fatal(rep, err)
		}
	}
}
