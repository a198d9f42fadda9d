package seal

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"filippo.io/age/armor"
	"golang.org/x/crypto/ssh"
)

// maxKeyFile bounds a recipient or identity file (age's own limit is 16 MiB).
const maxKeyFile = 1 << 20

// ParseRecipient parses one recipient as written on a command line: an age X25519 public
// key (age1…), a post-quantum hybrid one (age1pq1…) or an SSH public key line
// (ssh-ed25519 AAAA…, ssh-rsa AAAA…, as in authorized_keys). A private key is refused
// with [ErrNotRecipient]; the error never repeats key material.
func ParseRecipient(s string) (age.Recipient, error) {
	s = strings.TrimSpace(s)
	if looksPrivate(s) {
		return nil, fmt.Errorf("the recipient given %w: give its public key (age1…, printed by 'imgx keygen --encryption' or 'age-keygen -y KEYFILE', or an SSH .pub line)", ErrNotRecipient)
	}
	if strings.HasPrefix(s, "ssh-") {
		r, err := agessh.ParseRecipient(s)
		if err != nil {
			return nil, fmt.Errorf("SSH recipient %.24q…: %w", s, err)
		}
		return named{r, s}, nil
	}
	if strings.HasPrefix(s, "age1") {
		rs, err := age.ParseRecipients(strings.NewReader(s))
		if err != nil {
			return nil, fmt.Errorf("age recipient %.24q…: %w", s, err)
		}
		return named{rs[0], s}, nil
	}
	// Not echoed: an unknown string may be a secret given in the wrong place.
	return nil, errors.New("unknown recipient type (want age1…, ssh-ed25519 AAAA… or ssh-rsa AAAA…)")
}

// ReadRecipients parses a recipients file in the age -R format: one recipient per line
// (anything [ParseRecipient] takes), blank lines and # comments ignored. name is used
// in errors.
func ReadRecipients(r io.Reader, name string) ([]age.Recipient, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("recipients file %s: %w", name, err)
	}
	if len(data) > maxKeyFile {
		return nil, fmt.Errorf("recipients file %s: larger than %d bytes", name, maxKeyFile)
	}
	if looksPrivate(string(data)) || IsEncrypted(data) { // an identity, perhaps password-protected
		return nil, fmt.Errorf("recipients file %s %w: give the public keys (age-keygen -y, or the SSH .pub file)", name, ErrNotRecipient)
	}
	var out []age.Recipient
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, maxKeyFile)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		rc, err := ParseRecipient(line)
		if err != nil {
			return nil, fmt.Errorf("recipients file %s, line %d: %w", name, n, err)
		}
		out = append(out, rc)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("recipients file %s: %w", name, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("recipients file %s: no recipients found", name)
	}
	return out, nil
}

// PassphraseRecipient encrypts to a passphrase (age's scrypt stanza). It must be the
// only recipient of a file.
func PassphraseRecipient(pass []byte) (age.Recipient, error) {
	if len(pass) == 0 {
		return nil, errors.New("empty passphrase")
	}
	r, err := age.NewScryptRecipient(string(pass))
	if err != nil {
		return nil, err
	}
	mac := hmac.New(sha256.New, []byte("imgx seal resume passphrase"))
	mac.Write(pass)
	return named{r, "scrypt " + hex.EncodeToString(mac.Sum(nil))}, nil
}

// PassphraseIdentity decrypts a file encrypted to a passphrase.
func PassphraseIdentity(pass []byte) (age.Identity, error) {
	if len(pass) == 0 {
		return nil, errors.New("empty passphrase")
	}
	return age.NewScryptIdentity(string(pass))
}

// ReadIdentities parses an identity file: an age identity file (AGE-SECRET-KEY-1… lines,
// # comments; also one protected with a passphrase, as 'age -p' writes it) or an SSH
// private key (ed25519 or RSA, OpenSSH or PEM format). passphrase is asked only for an
// encrypted key, and only when a bundle names it (SSH keys) or to read the file (age).
// A public key is refused with [ErrNotIdentity].
func ReadIdentities(data []byte, name string, passphrase func() ([]byte, error)) ([]age.Identity, error) {
	if len(data) > maxKeyFile {
		return nil, fmt.Errorf("identity file %s: larger than %d bytes", name, maxKeyFile)
	}
	if IsEncrypted(data) {
		if passphrase == nil {
			return nil, fmt.Errorf("identity file %s is protected by a passphrase and none can be asked", name)
		}
		pass, err := passphrase()
		if err != nil {
			return nil, fmt.Errorf("identity file %s: %w", name, err)
		}
		id, err := PassphraseIdentity(pass)
		if err != nil {
			return nil, fmt.Errorf("identity file %s: %w", name, err)
		}
		r, err := Open(bytes.NewReader(data), []age.Identity{id})
		if err != nil {
			return nil, fmt.Errorf("identity file %s: %w", name, err)
		}
		if data, err = io.ReadAll(io.LimitReader(r, maxKeyFile)); err != nil {
			return nil, fmt.Errorf("identity file %s: %w", name, err)
		}
		return ReadIdentities(data, name, nil)
	}
	text := strings.TrimSpace(string(data))
	if strings.HasPrefix(text, "-----BEGIN") {
		return sshIdentity(data, name, passphrase)
	}
	if looksPublic(text) {
		return nil, fmt.Errorf("identity file %s %w: give the private key file (made by 'imgx keygen --encryption', age-keygen or ssh-keygen)", name, ErrNotIdentity)
	}
	ids, err := age.ParseIdentities(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("identity file %s: %w", name, err)
	}
	return ids, nil
}

func sshIdentity(data []byte, name string, passphrase func() ([]byte, error)) ([]age.Identity, error) {
	id, err := agessh.ParseIdentity(data)
	if err == nil {
		return []age.Identity{id}, nil
	}
	var missing *ssh.PassphraseMissingError
	if !errors.As(err, &missing) {
		return nil, fmt.Errorf("identity file %s: SSH key: %w", name, err)
	}
	if missing.PublicKey == nil {
		return nil, fmt.Errorf("identity file %s: an encrypted SSH key in the old PEM format, whose public key cannot be read without decrypting it: convert it with ssh-keygen -p -o", name)
	}
	if passphrase == nil {
		return nil, fmt.Errorf("identity file %s: the SSH key is encrypted and no passphrase can be asked", name)
	}
	eid, err := agessh.NewEncryptedSSHIdentity(missing.PublicKey, data, passphrase)
	if err != nil {
		return nil, fmt.Errorf("identity file %s: %w", name, err)
	}
	return []age.Identity{eid}, nil
}

// ProtectIdentity encrypts an identity file to a passphrase, armored, as 'age -p -a'
// writes it: [ReadIdentities] reads it back, asking for the passphrase.
func ProtectIdentity(file, pass []byte) ([]byte, error) {
	r, err := PassphraseRecipient(pass)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	aw := armor.NewWriter(&buf)
	w, err := age.Encrypt(aw, r)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(file); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	if err := aw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// GenerateIdentity makes a new age X25519 identity. It returns the identity file's
// content (in the format age-keygen writes) and the recipient to hand out.
func GenerateIdentity(now time.Time) (file []byte, recipient string, err error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, "", err
	}
	recipient = id.Recipient().String()
	file = fmt.Appendf(nil, "# created: %s\n# public key: %s\n%s\n", now.UTC().Format(time.RFC3339), recipient, id)
	return file, recipient, nil
}

// looksPrivate reports private key material: an age secret key or plugin identity, or
// a PEM/OpenSSH private key block.
func looksPrivate(s string) bool {
	return strings.Contains(s, "AGE-SECRET-KEY-") || strings.Contains(s, "AGE-PLUGIN-") ||
		strings.Contains(s, "PRIVATE KEY-----")
}

// looksPublic reports a file whose first key line is a public key.
func looksPublic(s string) bool {
	for line := range strings.Lines(s) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		return strings.HasPrefix(line, "age1") || strings.HasPrefix(line, "ssh-") || strings.HasPrefix(line, "ecdsa-")
	}
	return false
}
