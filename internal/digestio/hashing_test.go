package digestio

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/opencontainers/go-digest"
)

func TestHashingWriter(t *testing.T) {
	data := []byte("some blob bytes")
	var dst bytes.Buffer
	h := NewHashingWriter(&dst, "")
	for _, chunk := range [][]byte{data[:3], data[3:10], data[10:]} {
		if _, err := h.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if h.Digest() != digest.FromBytes(data) || h.Size() != int64(len(data)) || !bytes.Equal(dst.Bytes(), data) {
		t.Fatalf("HashingWriter = %s/%d, want %s/%d", h.Digest(), h.Size(), digest.FromBytes(data), len(data))
	}
	h512 := NewHashingWriter(nil, digest.SHA512)
	h512.Write(data)
	if h512.Digest() != digest.SHA512.FromBytes(data) {
		t.Fatalf("sha512 digest = %s", h512.Digest())
	}
}

// shortWriter accepts only n bytes, then fails.
type shortWriter struct{ n int }

func (w *shortWriter) Write(p []byte) (int, error) {
	if len(p) <= w.n {
		w.n -= len(p)
		return len(p), nil
	}
	k := w.n
	w.n = 0
	return k, errors.New("disk full")
}

func TestHashingWriterCountsOnlyAccepted(t *testing.T) {
	h := NewHashingWriter(&shortWriter{n: 4}, "")
	n, err := h.Write([]byte("0123456789"))
	if n != 4 || err == nil {
		t.Fatalf("Write = %d, %v; want 4, error", n, err)
	}
	if h.Size() != 4 || h.Digest() != digest.FromString("0123") {
		t.Fatalf("after short write: size %d digest %s, want 4 %s", h.Size(), h.Digest(), digest.FromString("0123"))
	}
}

func TestHashingReader(t *testing.T) {
	data := []byte("read me once, know my digest")
	h := NewHashingReader(iotest.OneByteReader(bytes.NewReader(data)), "")
	out, err := io.ReadAll(h)
	if err != nil || !bytes.Equal(out, data) {
		t.Fatalf("ReadAll = %q, %v", out, err)
	}
	if h.Digest() != digest.FromBytes(data) || h.Size() != int64(len(data)) {
		t.Fatalf("HashingReader = %s/%d", h.Digest(), h.Size())
	}
}
