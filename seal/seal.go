// Package seal encrypts and decrypts imgx bundle streams with age (filippo.io/age): an
// encrypted bundle is one age v1 file whose payload is the whole bundle stream, so
// `age -d` of it is a valid bundle and imgx reads what `age -r` encrypted. See the
// "Encryption" section of docs/bundle-format.md.
//
// seal owns the keys (recipients and identities, and telling them apart), the writer,
// which can reuse a file key across runs so that an interrupted upload resumes (see
// [ResumeRecord]), and the reader, which parses the header within tight bounds and fails
// on a bundle encrypted to someone else before reading its payload. It reads no
// environment and prompts for nothing: passphrases come from callbacks.
package seal

import (
	"bytes"
	"errors"
)

// Magic is the first line of every (binary) age file.
const Magic = "age-encryption.org/v1\n"

// armorMagic begins an ASCII-armored age file (age -a).
const armorMagic = "-----BEGIN AGE ENCRYPTED FILE-----"

// Errors a reader reports; each names what was wrong, so that a refused load says which.
var (
	// ErrEncrypted: the input is encrypted and no identity was given.
	ErrEncrypted = errors.New("encrypted bundle: no identity given to decrypt it")
	// ErrNoMatch: none of the identities given can open the header: the bundle was
	// encrypted to other recipients (or another passphrase).
	ErrNoMatch = errors.New("encrypted to other recipients: none of the identities given matches")
	// ErrHeader: the age header is malformed, too large, or its MAC does not match the
	// file key (a header spliced from another file).
	ErrHeader = errors.New("malformed age header")
	// ErrCiphertext: a payload chunk failed authentication: modified, reordered or
	// truncated ciphertext.
	ErrCiphertext = errors.New("encrypted payload failed authentication (modified or truncated)")
	// ErrNotRecipient: a private key (identity) was given where a recipient is expected.
	ErrNotRecipient = errors.New("is a private key, not a recipient")
	// ErrNotIdentity: a public key (recipient) was given where an identity is expected.
	ErrNotIdentity = errors.New("is a public key (a recipient), not an identity")
)

// PeekSize is how many first bytes [IsEncrypted] needs to recognise both forms.
const PeekSize = len(armorMagic)

// IsEncrypted reports whether the first bytes of a stream (at least [PeekSize] of them,
// unless the stream is shorter) begin an age file, binary or armored.
func IsEncrypted(prefix []byte) bool {
	return bytes.HasPrefix(prefix, []byte(Magic)) || bytes.HasPrefix(prefix, []byte(armorMagic))
}
