package bundle

import (
	"bytes"
	"context"
	"testing"
)

// benchBundle is a bundle of one image with six 30 MB gzip layers, one random and five of
// random words, for comparing a full verify with a load of the same bytes (issue 18).
func benchBundle(b *testing.B) []byte {
	b.Helper()
	s := newStore(b)
	var ls []layerSpec
	for i := range 6 {
		ls = append(ls, layerSpec{seed: uint64(10 + i), size: 30 << 20, random: i == 0, mixed: i > 0, gzip: true})
	}
	addImage(b, s, "example/big:1", ls...)
	return save(b, s, []string{"example/big:1"}, SaveOptions{})
}

func BenchmarkVerifyFull(b *testing.B) {
	bb := benchBundle(b)
	b.SetBytes(int64(len(bb)))
	b.ResetTimer()
	for b.Loop() {
		rep, err := Verify(context.Background(), bytes.NewReader(bb), VerifyOptions{})
		if rep == nil || rep.LayersUnpacked != 6 {
			b.Fatalf("verify: %v", err)
		}
	}
}

func BenchmarkLoadSameBundle(b *testing.B) {
	bb := benchBundle(b)
	b.SetBytes(int64(len(bb)))
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		s := newStore(b)
		b.StartTimer()
		if _, err := Load(context.Background(), s, bytes.NewReader(bb), LoadOptions{}); err != nil {
			b.Fatalf("load: %v", err)
		}
	}
}

// BenchmarkVerifyReread is BenchmarkVerifyFull with the bundle readable again by offset,
// as a local file is: the layers are checked by parallel re-readers.
func BenchmarkVerifyReread(b *testing.B) {
	bb := benchBundle(b)
	b.SetBytes(int64(len(bb)))
	b.ResetTimer()
	for b.Loop() {
		rep, err := Verify(context.Background(), bytes.NewReader(bb), VerifyOptions{At: bytes.NewReader(bb)})
		if rep == nil || rep.LayersUnpacked != 6 || rep.LayerReaders < 1 {
			b.Fatalf("verify: %v", err)
		}
	}
}
