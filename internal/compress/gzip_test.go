package compress

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"errors"
	"io"
	"testing"
)

// TestGzipReader: gzip goes through internal/inflate; without a limit the reader is an
// io.WriterTo, so that io.Copy into a hash (verify's diff ID check) hashes straight out
// of the decoder's buffer; a corrupt trailer is an error wrapping gzip.ErrChecksum.
func TestGzipReader(t *testing.T) {
	data := bytes.Repeat([]byte("layer bytes "), 100000)
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(data)
	zw.Close()

	rc, kind, err := NewReader(bytes.NewReader(z.Bytes()), Options{})
	if err != nil || kind != Gzip {
		t.Fatalf("kind %v, err %v", kind, err)
	}
	if _, ok := rc.(io.WriterTo); !ok {
		t.Fatalf("%T is not an io.WriterTo", rc)
	}
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		t.Fatal(err)
	}
	if want := sha256.Sum256(data); !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatal("wrong output")
	}

	bad := bytes.Clone(z.Bytes())
	bad[len(bad)-5] ^= 1 // the CRC-32
	rc, _, err = NewReader(bytes.NewReader(bad), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, rc); !errors.Is(err, gzip.ErrChecksum) {
		t.Fatalf("err %v, want gzip.ErrChecksum", err)
	}
}
