package seal

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"

	"filippo.io/age"
)

// fuzzIdentity is a fixed test identity, so that corpus files stay decryptable.
const fuzzIdentity = "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX"

// FuzzOpen: any input either opens or fails with an error; none panics, and the header
// reader never takes more than its bound. The seeds (testdata/fuzz/FuzzOpen) are files
// encrypted to fuzzIdentity, armored and not, and mangled headers.
func FuzzOpen(f *testing.F) {
	id, err := age.ParseX25519Identity(fuzzIdentity)
	if err != nil {
		f.Fatal(err)
	}
	for _, n := range []int{0, 10, chunkSize + 1} {
		var buf bytes.Buffer
		w, _ := NewWriter(&buf, []age.Recipient{id.Recipient()}, WriterOptions{})
		w.Write(data(n))
		w.Close()
		f.Add(buf.Bytes()[:min(buf.Len(), 2048)])
	}
	f.Add([]byte(Magic + "-> X25519\n\n--- \n"))
	f.Add([]byte(Magic + "-> scrypt AAAA 18\nAAAA\n--- AAAA\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		lr := &countReader{r: bytes.NewReader(in)}
		r, err := Open(lr, []age.Identity{id})
		if err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(r, 1<<20))
		}
		hdr, herr := ReadHeader(bufio.NewReader(bytes.NewReader(in)))
		if herr == nil && (len(hdr) > MaxHeaderBytes || strings.Count(string(hdr), "\n->") > MaxStanzas) {
			t.Fatalf("header of %d bytes accepted", len(hdr))
		}
	})
}

type countReader struct {
	r io.Reader
	n int
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}
