package seal

import (
	"bytes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"

	"filippo.io/age"
	"golang.org/x/crypto/chacha20poly1305"
)

// The age v1 constants (age-encryption.org/v1).
const (
	fileKeySize = 16
	nonceSize   = 16
	chunkSize   = 64 << 10
	columns     = 64 // base64 characters per header body line
	// batchSize is the plaintext the writer hands to its encrypting goroutine at once,
	// and batches the most it holds: the ciphertext of one batch is one write to dst
	// (a write into a pipe is a goroutine hand-off; per chunk they cost more than the
	// encryption on a busy machine).
	batchSize = 16 * chunkSize
	batches   = 3
)

// WriterOptions tune [NewWriter].
type WriterOptions struct {
	// ResumeFile, when set, is the sender-side resume record for this output (see
	// [ResumeRecord]). The writer then needs a binding before its first byte: from
	// [Writer.Bind], or else from Binding, called at the first write.
	ResumeFile string
	Binding    func() []byte
}

// Writer encrypts a stream to an age file. Writes are gathered into 1 MiB batches that
// a goroutine encrypts (64 KiB chunks) and writes to dst while the caller goes on.
// Close seals the last chunk and must be called once the stream is complete; Abort
// stops without it (an incomplete stream must not end in a valid final chunk).
type Writer struct {
	dst     io.Writer
	rcpts   []age.Recipient
	opts    WriterOptions
	binding []byte
	started bool
	closed  bool
	aead    cipher.AEAD
	buf     []byte // the batch being filled
	err     error

	work chan batch  // filled batches, to the encrypting goroutine
	free chan []byte // emptied batch buffers, back
	dead chan struct{}
	werr error // the goroutine's error, once dead is closed
	// Reused reports whether the key came from an existing resume record (set once
	// writing started).
	Reused bool
}

type batch struct {
	data []byte
	last bool
}

// NewWriter returns a Writer that encrypts to every recipient in rcpts. It checks that
// the recipients can share a file (a passphrase must be alone, as age requires) by
// wrapping a throwaway key, so a bad combination fails before anything is written.
func NewWriter(dst io.Writer, rcpts []age.Recipient, opts WriterOptions) (*Writer, error) {
	if len(rcpts) == 0 {
		return nil, errors.New("encrypt: no recipients")
	}
	if len(rcpts) > 1 { // one recipient always fits; a passphrase's scrypt is slow
		if _, err := header(make([]byte, fileKeySize), rcpts); err != nil {
			return nil, err
		}
	}
	return &Writer{dst: dst, rcpts: rcpts, opts: opts}, nil
}

// Bind names the plaintext about to be written, for resume: a re-run that binds the same
// value (and so, for a reproducible bundle, writes the same plaintext) reuses the file
// key, nonce and header of the resume record, giving the same ciphertext; any other value
// gets a fresh key. It must be called before the first Write when ResumeFile is set.
func (w *Writer) Bind(binding []byte) error {
	if w.started {
		return errors.New("encrypt: Bind after the first write")
	}
	w.binding = slices.Clone(binding)
	return nil
}

// start picks the key and writes the header and nonce.
func (w *Writer) start() error {
	w.started = true
	var rec *ResumeRecord
	if w.opts.ResumeFile != "" {
		if w.binding == nil && w.opts.Binding != nil {
			w.binding = w.opts.Binding()
		}
		if w.binding == nil {
			return errors.New("encrypt: a resumable writer needs Bind before writing")
		}
		r, reused, err := resumeRecord(w.opts.ResumeFile, w.binding, w.rcpts)
		if err != nil {
			return err
		}
		rec, w.Reused = r, reused
	} else {
		r, err := newRecord(nil, w.rcpts)
		if err != nil {
			return err
		}
		rec = r
	}
	aead, err := chacha20poly1305.New(streamKey(rec.FileKey, rec.Nonce))
	if err != nil {
		return err
	}
	w.aead = aead
	if _, err := w.dst.Write(rec.Header); err != nil {
		return err
	}
	if _, err = w.dst.Write(rec.Nonce); err != nil {
		return err
	}
	w.work, w.free, w.dead = make(chan batch), make(chan []byte, batches), make(chan struct{})
	for range batches - 1 {
		w.free <- make([]byte, 0, batchSize)
	}
	w.buf = make([]byte, 0, batchSize)
	go w.encrypt()
	return nil
}

// encrypt seals the batches in order and writes each batch's ciphertext at once.
func (w *Writer) encrypt() {
	defer close(w.dead)
	out := make([]byte, 0, batchSize+16*chacha20poly1305.Overhead)
	var counter uint64
	for b := range w.work {
		out = out[:0]
		data := b.data
		for {
			n := min(len(data), chunkSize)
			last := b.last && n == len(data)
			out = w.aead.Seal(out, chunkNonce(counter, last), data[:n], nil)
			counter++
			data = data[n:]
			if len(data) == 0 {
				break
			}
		}
		if _, err := w.dst.Write(out); err != nil {
			w.werr = err
			return
		}
		w.free <- b.data[:0]
	}
}

func chunkNonce(counter uint64, last bool) []byte {
	nonce := make([]byte, chacha20poly1305.NonceSize)
	for i := 10; i >= 0; i-- {
		nonce[i] = byte(counter)
		counter >>= 8
	}
	if last {
		nonce[11] = 1
	}
	return nonce
}

// send hands the filled batch to the encrypting goroutine and takes an empty buffer.
func (w *Writer) send(last bool) error {
	select {
	case w.work <- batch{w.buf, last}:
	case <-w.dead:
		return w.deadErr()
	}
	if last {
		return nil
	}
	select {
	case w.buf = <-w.free:
	case <-w.dead:
		return w.deadErr()
	}
	return nil
}

func (w *Writer) deadErr() error {
	if w.werr != nil {
		return w.werr
	}
	return errors.New("encrypt: writer stopped")
}

// Write encrypts p. A chunk is sealed only once more data follows it, since the last
// chunk carries the "last" flag.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.closed {
		return 0, errors.New("encrypt: write after close")
	}
	if !w.started {
		if w.err = w.start(); w.err != nil {
			return 0, w.err
		}
	}
	n := 0
	for len(p) > 0 {
		if len(w.buf) == batchSize { // full, and more follows: not the last batch
			if w.err = w.send(false); w.err != nil {
				return n, w.err
			}
		}
		k := copy(w.buf[len(w.buf):batchSize], p)
		w.buf = w.buf[:len(w.buf)+k]
		p, n = p[k:], n+k
	}
	return n, nil
}

// Close seals the last chunk. It does not close the destination.
func (w *Writer) Close() error {
	if w.err != nil || w.closed {
		return w.err
	}
	if !w.started {
		if w.err = w.start(); w.err != nil {
			return w.err
		}
	}
	w.closed = true
	if w.err = w.send(true); w.err == nil {
		close(w.work)
		<-w.dead
		w.err = w.werr
	}
	return w.err
}

// Abort stops the encrypting goroutine without sealing a final chunk, so what was
// written is not a complete age file. It does nothing after Close.
func (w *Writer) Abort() {
	if w.closed || !w.started || w.dead == nil {
		return
	}
	w.closed = true
	if w.err == nil {
		w.err = errors.New("encrypt: aborted")
	}
	close(w.work)
	<-w.dead
}

// header builds the age header for fileKey: the intro, one or more stanzas per
// recipient and the HMAC line.
func header(fileKey []byte, rcpts []age.Recipient) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(Magic)
	var labels []string
	for i, r := range rcpts {
		var stanzas []*age.Stanza
		var l []string
		var err error
		if rl, ok := r.(age.RecipientWithLabels); ok {
			stanzas, l, err = rl.WrapWithLabels(fileKey)
		} else {
			stanzas, err = r.Wrap(fileKey)
		}
		if err != nil {
			return nil, fmt.Errorf("encrypt: recipient %d: %w", i+1, err)
		}
		sort.Strings(l)
		if i == 0 {
			labels = l
		} else if !slices.Equal(labels, l) {
			return nil, errors.New("encrypt: these recipients cannot share a file (a passphrase must be the only recipient; post-quantum and classic keys do not mix)")
		}
		for _, s := range stanzas {
			if err := writeStanza(&b, s); err != nil {
				return nil, fmt.Errorf("encrypt: recipient %d: %w", i+1, err)
			}
		}
	}
	b.WriteString("---")
	mac := hmac.New(sha256.New, hkdfKey(fileKey, nil, "header"))
	mac.Write(b.Bytes())
	b.WriteString(" " + base64.RawStdEncoding.EncodeToString(mac.Sum(nil)) + "\n")
	return b.Bytes(), nil
}

func writeStanza(b *bytes.Buffer, s *age.Stanza) error {
	b.WriteString("->")
	for _, a := range append([]string{s.Type}, s.Args...) {
		if !validArg(a) {
			return fmt.Errorf("invalid stanza argument %q", a)
		}
		b.WriteString(" " + a)
	}
	b.WriteByte('\n')
	enc := base64.RawStdEncoding.EncodeToString(s.Body)
	for len(enc) >= columns {
		b.WriteString(enc[:columns] + "\n")
		enc = enc[columns:]
	}
	b.WriteString(enc + "\n") // a body always ends with a short (maybe empty) line
	return nil
}

func validArg(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 33 || s[i] > 126 {
			return false
		}
	}
	return true
}

func hkdfKey(secret, salt []byte, info string) []byte {
	k, err := hkdf.Key(sha256.New, secret, salt, info, 32)
	if err != nil {
		panic("seal: hkdf: " + err.Error()) // only for lengths out of range
	}
	return k
}

func streamKey(fileKey, nonce []byte) []byte { return hkdfKey(fileKey, nonce, "payload") }

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
