package seal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"filippo.io/age"
	"filippo.io/age/armor"
)

func armorWriter(w io.Writer) io.WriteCloser { return armor.NewWriter(w) }

// open reads the whole plaintext, as a loader does.
func open(ct []byte, ids []age.Identity) error {
	r, err := Open(bytes.NewReader(ct), ids)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, r)
	return err
}

// TestHostileCiphertext: every kind of damage is refused with the error that names it.
func TestHostileCiphertext(t *testing.T) {
	me, other := x25519(t), x25519(t)
	plain := data(4*chunkSize + 100)
	ct := encrypt(t, plain, []age.Recipient{me.rcpt}, WriterOptions{}, nil)
	forOther := encrypt(t, plain, []age.Recipient{other.rcpt}, WriterOptions{}, nil)
	hdrLen := bytes.Index(ct, []byte("\n---")) + 1
	hdrLen += bytes.IndexByte(ct[hdrLen:], '\n') + 1
	otherHdrLen := bytes.Index(forOther, []byte("\n---")) + 1
	otherHdrLen += bytes.IndexByte(forOther[otherHdrLen:], '\n') + 1
	payload := hdrLen + nonceSize
	enc := chunkSize + 16

	cases := map[string]struct {
		ct   []byte
		ids  []age.Identity
		want error
	}{
		"no identity":                  {ct, nil, ErrEncrypted},
		"wrong identity":               {ct, other.ids, ErrNoMatch},
		"header for another recipient": {append(clone(forOther[:otherHdrLen]), ct[hdrLen:]...), me.ids, ErrNoMatch},
		"header of another file, mine": {append(clone(encrypt(t, plain, []age.Recipient{me.rcpt}, WriterOptions{}, nil)[:hdrLen]), ct[hdrLen:]...), me.ids, ErrCiphertext},
		"truncated in the header":      {ct[:hdrLen-5], me.ids, ErrHeader},
		"truncated in the nonce":       {ct[:hdrLen+3], me.ids, ErrCiphertext},
		"empty payload":                {ct[:payload], me.ids, ErrCiphertext},
		"header MAC flipped":           {flip(ct, hdrLen-3), me.ids, ErrHeader},
		"not age":                      {[]byte("age-encryption.org/v2\n"), me.ids, ErrHeader},
	}
	for i := 0; i < 5; i++ {
		end := min(payload+(i+1)*enc, len(ct))
		cases[fmt.Sprintf("flipped byte in chunk %d", i)] = struct {
			ct   []byte
			ids  []age.Identity
			want error
		}{flip(ct, payload+i*enc+(end-payload-i*enc)/2), me.ids, ErrCiphertext}
		if i < 4 {
			cases[fmt.Sprintf("truncated after chunk %d", i)] = struct {
				ct   []byte
				ids  []age.Identity
				want error
			}{ct[:payload+(i+1)*enc], me.ids, ErrCiphertext}
		}
		cases[fmt.Sprintf("truncated inside chunk %d", i)] = struct {
			ct   []byte
			ids  []age.Identity
			want error
		}{ct[:payload+i*enc+50], me.ids, ErrCiphertext}
	}
	// Two chunks swapped.
	sw := clone(ct)
	copy(sw[payload:], ct[payload+enc:payload+2*enc])
	copy(sw[payload+enc:], ct[payload:payload+enc])
	cases["chunks swapped"] = struct {
		ct   []byte
		ids  []age.Identity
		want error
	}{sw, me.ids, ErrCiphertext}
	cases["appended data"] = struct {
		ct   []byte
		ids  []age.Identity
		want error
	}{append(clone(ct), 1, 2, 3), me.ids, ErrCiphertext}

	for name, c := range cases {
		if err := open(c.ct, c.ids); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
	}
	if err := open(ct, me.ids); err != nil {
		t.Fatalf("the intact file: %v", err)
	}
}

// TestHostileHeaderBounds: a header past the bounds is refused without reading on.
func TestHostileHeaderBounds(t *testing.T) {
	me := x25519(t)
	many := Magic + strings.Repeat("-> X25519 AAAA\nAAAA\n", MaxStanzas+1) + "--- AAAA\n"
	long := Magic + "-> X25519 " + strings.Repeat("A", MaxHeaderBytes) + "\n"
	endless := &repeatReader{s: []byte(Magic + "-> X\n")}
	for name, r := range map[string]io.Reader{
		"too many stanzas": strings.NewReader(many),
		"long line":        strings.NewReader(long),
		"endless header":   io.LimitReader(endless, 1<<30),
	} {
		if _, err := Open(r, me.ids); !errors.Is(err, ErrHeader) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if endless.n > 2*MaxHeaderBytes {
		t.Errorf("read %d bytes of an endless header", endless.n)
	}
}

type repeatReader struct {
	s []byte
	n int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		n += copy(p[n:], r.s[(r.n+n)%len(r.s):])
	}
	r.n += n
	return n, nil
}

func flip(b []byte, i int) []byte {
	c := clone(b)
	c[i] ^= 0x40
	return c
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }
