package seal

import (
	"bytes"
	"io"
	"testing"

	"filippo.io/age"
)

// BenchmarkWriter and BenchmarkOpen measure the raw encryption and decryption
// throughput (bytes of plaintext), beside which a bundle's zstd and sha256 run.
func BenchmarkWriter(b *testing.B) {
	kp := x25519(b)
	plain := data(32 << 20)
	b.SetBytes(int64(len(plain)))
	for b.Loop() {
		w, _ := NewWriter(io.Discard, []age.Recipient{kp.rcpt}, WriterOptions{})
		w.Write(plain)
		w.Close()
	}
}

func BenchmarkOpen(b *testing.B) {
	kp := x25519(b)
	plain := data(32 << 20)
	ct := encrypt(b, plain, []age.Recipient{kp.rcpt}, WriterOptions{}, nil)
	b.SetBytes(int64(len(plain)))
	for b.Loop() {
		r, err := Open(bytes.NewReader(ct), kp.ids)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, r)
	}
}
