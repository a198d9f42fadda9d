package seal

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"filippo.io/age"
	"filippo.io/age/armor"
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
	plain, err := age.Decrypt(io.MultiReader(bytes.NewReader(hdr), hr), ids...)
	if err != nil {
		if src.err != nil {
			return nil, src.err
		}
		var nm *age.NoIdentityMatchError
		if errors.As(err, &nm) && onlyAsk(ids) {
			return nil, ErrEncrypted
		}
		if errors.As(err, &nm) {
			return nil, fmt.Errorf("%w (the header names %s)", ErrNoMatch, stanzaList(nm.StanzaTypes))
		}
		msg := err.Error()
		switch {
		case errors.Is(err, ErrNoMatch):
			return nil, err
		case strings.Contains(msg, "nonce"):
			return nil, fmt.Errorf("%w: %v", ErrCiphertext, err)
		case strings.HasPrefix(msg, "failed to read header") || strings.Contains(msg, "header MAC"):
			return nil, fmt.Errorf("%w: %v", ErrHeader, err)
		}
		return nil, fmt.Errorf("decrypt: %w", err) // an identity's own failure (a passphrase that cannot be asked)
	}
	return &plainReader{r: plain, src: src}, nil
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

// plainReader classifies payload errors and counts plaintext for messages.
type plainReader struct {
	r   io.Reader
	src *srcErr
	n   int64
}

func (p *plainReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if err != nil && err != io.EOF {
		if p.src.err != nil {
			return n, p.src.err
		}
		return n, fmt.Errorf("%w: chunk %d (plaintext byte %d): %v", ErrCiphertext, p.n/chunkSize, p.n, err)
	}
	return n, err
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
