package seal

import (
	"bufio"
	"bytes"
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
	"strings"

	"filippo.io/age"
	"filippo.io/age/armor"
	"golang.org/x/crypto/chacha20poly1305"
)

// Header bounds: far above what imgx writes (one stanza per recipient, ~100 bytes for
// X25519, ~700 for RSA-4096) and far below age's own 2 MiB and 1024 stanzas, so a hostile
// header costs little before it is refused.
const (
	MaxHeaderBytes = 64 << 10
	MaxStanzas     = 64
)

// Open decrypts an age file read from r with the first of ids that matches. It reads
// only the header before deciding: without identities it fails with [ErrEncrypted], with
// none that matches with [ErrNoMatch], and a malformed, oversized or spliced header fails
// with [ErrHeader]. The reader returned authenticates each 64 KiB chunk before
// returning its bytes; a modified or truncated payload fails with [ErrCiphertext] at
// that chunk, and io.EOF comes only after the authenticated last chunk.
func Open(r io.Reader, ids []age.Identity) (io.Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	p, _ := br.Peek(len(armorMagic))
	src := &srcErr{r: br}
	var in io.Reader = src
	if bytes.HasPrefix(p, []byte(armorMagic)) {
		in = armor.NewReader(src)
	} else if !bytes.HasPrefix(p, []byte(Magic)) {
		return nil, fmt.Errorf("%w: not an age file", ErrHeader)
	}
	hr := bufio.NewReaderSize(in, 4096)
	hdr, err := ReadHeader(hr)
	if err != nil {
		if src.err != nil {
			return nil, src.err
		}
		return nil, err
	}
	if len(ids) == 0 {
		return nil, ErrEncrypted
	}
	fileKey, err := age.DecryptHeader(hdr, ids...)
	if err != nil {
		var nm *age.NoIdentityMatchError
		switch {
		case errors.As(err, &nm) && onlyAsk(ids):
			return nil, ErrEncrypted
		case errors.As(err, &nm):
			return nil, fmt.Errorf("%w (the header names %s)", ErrNoMatch, stanzaList(nm.StanzaTypes))
		case errors.Is(err, ErrNoMatch):
			return nil, err
		case strings.HasPrefix(err.Error(), "failed to read header") || strings.Contains(err.Error(), "header MAC"):
			return nil, fmt.Errorf("%w: %v", ErrHeader, err)
		}
		return nil, fmt.Errorf("decrypt: %w", err) // an identity's own failure (a passphrase that cannot be asked)
	}
	nonce := make([]byte, nonceSize)
	if _, err := io.ReadFull(hr, nonce); err != nil {
		if src.err != nil {
			return nil, src.err
		}
		return nil, fmt.Errorf("%w: truncated before the payload nonce", ErrCiphertext)
	}
	aead, err := chacha20poly1305.New(streamKey(fileKey, nonce))
	if err != nil {
		return nil, err
	}
	return &streamReader{src: hr, srcErr: src, aead: aead}, nil
}

func stanzaList(types []string) string {
	counts := map[string]int{}
	var order []string
	for _, t := range types {
		if counts[t] == 0 {
			order = append(order, t)
		}
		counts[t]++
	}
	var parts []string
	for _, t := range order {
		parts = append(parts, fmt.Sprintf("%d %s", counts[t], t))
	}
	if len(parts) == 0 {
		return "no recipients"
	}
	return strings.Join(parts, ", ") + " recipient(s)"
}

// ReadHeader reads an age header (intro line to MAC line) from r, within
// [MaxHeaderBytes] and [MaxStanzas], and returns its bytes. It checks only the shape that
// bounds it; age parses the rest.
func ReadHeader(r *bufio.Reader) ([]byte, error) {
	var hdr []byte
	stanzas := 0
	for first := true; ; first = false {
		line, err := readLine(r, MaxHeaderBytes-len(hdr))
		hdr = append(hdr, line...)
		if err != nil {
			return nil, err
		}
		switch {
		case first:
			if string(line) != Magic {
				return nil, fmt.Errorf("%w: not an age v1 file", ErrHeader)
			}
		case bytes.HasPrefix(line, []byte("---")):
			return hdr, nil
		case bytes.HasPrefix(line, []byte("->")):
			if stanzas++; stanzas > MaxStanzas {
				return nil, fmt.Errorf("%w: more than %d recipient stanzas", ErrHeader, MaxStanzas)
			}
		}
	}
}

// readLine reads through the next newline, at most limit bytes.
func readLine(r *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		frag, err := r.ReadSlice('\n')
		if len(line)+len(frag) > limit {
			return nil, fmt.Errorf("%w: larger than %d bytes", ErrHeader, MaxHeaderBytes)
		}
		line = append(line, frag...)
		switch err {
		case nil:
			return line, nil
		case bufio.ErrBufferFull:
			continue
		case io.EOF:
			return nil, fmt.Errorf("%w: truncated", ErrHeader)
		default:
			return nil, err
		}
	}
}

// srcErr remembers the underlying reader's errors, so that a network failure is not
// reported as tampering.
type srcErr struct {
	r   io.Reader
	err error
}

func (s *srcErr) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

// streamReader decrypts age's STREAM payload: 64 KiB chunks of ChaCha20-Poly1305, the
// nonce an 11-byte chunk counter and a last-chunk flag. It decrypts in place in one
// buffer (age's own reader allocates 64 KiB per chunk, which tripled a load's heap).
type streamReader struct {
	src     *bufio.Reader
	srcErr  *srcErr
	aead    cipher.AEAD
	buf     [chunkSize + chacha20poly1305.Overhead]byte
	unread  []byte
	counter uint64
	err     error
	done    bool // the final chunk was read
}

func (r *streamReader) Read(p []byte) (int, error) {
	for len(r.unread) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.done {
			return 0, io.EOF
		}
		r.err = r.next()
	}
	n := copy(p, r.unread)
	r.unread = r.unread[n:]
	return n, nil
}

// next authenticates and decrypts the next chunk into unread; after the last one it
// returns io.EOF, and only if nothing follows it.
func (r *streamReader) next() error {
	n, err := io.ReadFull(r.src, r.buf[:])
	last := false
	switch {
	case err == io.ErrUnexpectedEOF || err == io.EOF:
		if r.srcErr.err != nil {
			return r.srcErr.err
		}
		if n < chacha20poly1305.Overhead || (n == chacha20poly1305.Overhead && r.counter > 0) {
			return r.fail("truncated (no final chunk)")
		}
		last = true
	case err != nil:
		return err
	default:
		// A full-length chunk is the final one when nothing follows it.
		if _, perr := r.src.Peek(1); perr == io.EOF {
			last = true
		} else if r.srcErr.err != nil {
			return r.srcErr.err
		}
	}
	out, ok := r.open(n, last)
	if !ok {
		return r.fail("authentication failed")
	}
	r.counter++
	r.unread = out
	r.done = last // deliver the last chunk, then EOF
	return nil
}

func (r *streamReader) open(n int, last bool) ([]byte, bool) {
	var nonce [chacha20poly1305.NonceSize]byte
	c := r.counter
	for i := 10; i >= 0; i-- {
		nonce[i] = byte(c)
		c >>= 8
	}
	if last {
		nonce[11] = 1
	}
	out, err := r.aead.Open(r.buf[:0], nonce[:], r.buf[:n], nil)
	return out, err == nil
}

func (r *streamReader) fail(what string) error {
	return fmt.Errorf("%w: chunk %d: %s", ErrCiphertext, r.counter, what)
}

// MaybeOpen is [Open] for a stream that may or may not be encrypted: a plain stream
// comes back as it is (re-reading its first bytes) with encrypted false.
func MaybeOpen(r io.Reader, ids []age.Identity) (plain io.Reader, encrypted bool, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	p, _ := br.Peek(PeekSize)
	if !IsEncrypted(p) {
		return br, false, nil
	}
	plain, err = Open(br, ids)
	return plain, true, err
}

// AskPassphrase returns an identity for files encrypted to a passphrase that calls ask
// only when a header holds a passphrase (scrypt) stanza, so that a command can always
// carry it without prompting for files encrypted to keys. Given alone, it counts as no
// identity for a file encrypted to keys ([ErrEncrypted]).
func AskPassphrase(ask func() ([]byte, error)) age.Identity { return &askPassphrase{ask: ask} }

type askPassphrase struct{ ask func() ([]byte, error) }

func (a *askPassphrase) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	if len(stanzas) != 1 || stanzas[0].Type != "scrypt" {
		return nil, age.ErrIncorrectIdentity
	}
	pass, err := a.ask()
	if err != nil {
		return nil, err
	}
	id, err := PassphraseIdentity(pass)
	if err != nil {
		return nil, err
	}
	fk, err := id.Unwrap(stanzas)
	if errors.Is(err, age.ErrIncorrectIdentity) {
		return nil, fmt.Errorf("%w: wrong passphrase", ErrNoMatch)
	}
	return fk, err
}

// onlyAsk reports identities that are all passphrase askers (or none).
func onlyAsk(ids []age.Identity) bool {
	for _, id := range ids {
		if _, ok := id.(*askPassphrase); !ok {
			return false
		}
	}
	return true
}
