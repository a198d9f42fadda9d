package seal

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"

	"filippo.io/age"

	"github.com/imgx/imgx/internal/atomicfile"
)

// ResumeRecord is what the sender keeps, on its own disk, so that an interrupted
// encrypted upload can resume: re-running the save produces the same plaintext (bundles
// are reproducible), and with the same file key, nonce and header, the same ciphertext,
// which the transport's prefix check then accepts.
//
// A record holds the file key, so it is written mode 0600 in a 0700 directory and never
// leaves the sender; [DiscardResume] removes it once the file is published. It is bound
// to its plaintext: Binding is the SHA-256 of what the caller passed to [Writer.Bind]
// (the manifest digest, signatures, compression settings and build), and a different
// binding never reuses the key, so no key ever encrypts two different plaintexts.
type ResumeRecord struct {
	Version int    `json:"version"`
	Binding []byte `json:"binding"`
	FileKey []byte `json:"file_key"`
	Nonce   []byte `json:"nonce"`
	Header  []byte `json:"header"`
	// Recipients is a digest of the recipient set's header check: a record made for
	// other recipients is not reused even with the same plaintext.
	Recipients []byte `json:"recipients"`
}

// newRecord draws a fresh file key and nonce and wraps the key for rcpts.
func newRecord(binding []byte, rcpts []age.Recipient) (*ResumeRecord, error) {
	rec := &ResumeRecord{Version: 1, FileKey: randomBytes(fileKeySize), Nonce: randomBytes(nonceSize)}
	if binding != nil {
		b := sha256.Sum256(binding)
		rec.Binding = b[:]
	}
	h, err := header(rec.FileKey, rcpts)
	if err != nil {
		return nil, err
	}
	rec.Header = h
	rec.Recipients = recipientsID(rcpts)
	return rec, nil
}

// recipientsID identifies a recipient set by the public encodings [ParseRecipient] and
// [ReadRecipients] parsed (a passphrase by a keyed hash of it). Recipients made
// elsewhere, without such an identity, never match a stored record: their re-run starts
// over.
func recipientsID(rcpts []age.Recipient) []byte {
	h := sha256.New()
	for _, r := range rcpts {
		n, ok := r.(resumeIdentified)
		if !ok {
			h.Write(randomBytes(32))
			continue
		}
		fmt.Fprintf(h, "%s\n", n.resumeID())
	}
	return h.Sum(nil)
}

type resumeIdentified interface{ resumeID() string }

// named is a parsed recipient that remembers what it was parsed from.
type named struct {
	r  age.Recipient
	id string
}

func (n named) Wrap(fileKey []byte) ([]*age.Stanza, error) { return n.r.Wrap(fileKey) }

func (n named) WrapWithLabels(fileKey []byte) ([]*age.Stanza, []string, error) {
	if rl, ok := n.r.(age.RecipientWithLabels); ok {
		return rl.WrapWithLabels(fileKey)
	}
	s, err := n.r.Wrap(fileKey)
	return s, nil, err
}

func (n named) resumeID() string { return n.id }

// resumeRecord returns the record at path when it matches binding and rcpts (reused),
// else a new one, which it stores first: the key is on disk before any ciphertext made
// with it leaves.
func resumeRecord(path string, binding []byte, rcpts []age.Recipient) (*ResumeRecord, bool, error) {
	want := sha256.Sum256(binding)
	if data, err := os.ReadFile(path); err == nil {
		var rec ResumeRecord
		if json.Unmarshal(data, &rec) == nil && rec.Version == 1 && bytes.Equal(rec.Binding, want[:]) &&
			bytes.Equal(rec.Recipients, recipientsID(rcpts)) && len(rec.FileKey) == fileKeySize &&
			len(rec.Nonce) == nonceSize && bytes.HasPrefix(rec.Header, []byte(Magic)) {
			return &rec, true, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("encrypt: resume record %s: %w", path, err)
	}
	rec, err := newRecord(binding, rcpts)
	if err != nil {
		return nil, false, err
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return nil, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("encrypt: resume record: %w", err)
	}
	if err := atomicfile.WriteFile(path, data, 0o600); err != nil {
		return nil, false, fmt.Errorf("encrypt: resume record: %w", err)
	}
	return rec, false, nil
}

// DiscardResume removes a resume record, once its file is published (or abandoned).
// A missing record is not an error.
func DiscardResume(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("encrypt: remove resume record: %w", err)
	}
	return nil
}

// ResumePath names the resume record of an output location (a URL, or an absolute path)
// in stateDir.
func ResumePath(stateDir, output string) string {
	sum := sha256.Sum256([]byte(output))
	return filepath.Join(stateDir, "encrypt-resume", hex.EncodeToString(sum[:16])+".json")
}

// BundleBinding is the binding of an imgx bundle (see [Writer.Bind]): what its bytes are
// a pure function of. settings names the writer's choices (compression, level); the
// build (Go, imgx and zstd library versions) is added here, since another encoder
// version may compress differently.
func BundleBinding(settings string, manifest []byte, signatures [][]byte) []byte {
	h := sha256.New()
	fmt.Fprintf(h, "imgx encrypted bundle resume v1\n%s\n%s\n", settings, buildID())
	for _, b := range append([][]byte{manifest}, signatures...) {
		fmt.Fprintf(h, "%d\n", len(b))
		h.Write(b)
	}
	return h.Sum(nil)
}

func buildID() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	id := bi.GoVersion + " " + bi.Main.Path + " " + bi.Main.Version
	for _, d := range bi.Deps {
		if d.Path == "github.com/klauspost/compress" {
			id += " " + d.Version
		}
	}
	return id
}
