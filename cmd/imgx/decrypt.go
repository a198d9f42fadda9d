package main

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"filippo.io/age"
	"github.com/spf13/pflag"

	"github.com/imgx/imgx/seal"
	"github.com/imgx/imgx/transport/sftp"
)

// decryptFlags are the identity flags of the commands that read bundles.
type decryptFlags struct{ files []string }

func (f *decryptFlags) add(fs *pflag.FlagSet) {
	fs.StringArrayVar(&f.files, "identity-file", nil, "decrypt encrypted bundles with this age identity file or SSH private key (repeatable; not the SFTP login key, which is --identity; a protected key file's passphrase from "+sftp.PassphraseEnv+" or a prompt); a bundle encrypted to a passphrase takes "+encryptPassphraseEnv+" or a prompt")
}

// identities reads the identity files, and adds one that asks for a passphrase only when
// a bundle is encrypted to one.
func (f *decryptFlags) identities() ([]age.Identity, error) {
	var out []age.Identity
	for _, p := range f.files {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("--identity-file: %w", err)
		}
		// An age identity protected by a password (imgx keygen --encryption, age -p)
		// takes the key password, as signing keys do; an SSH key its passphrase.
		ask := envSecret(sftp.PassphraseEnv, fmt.Sprintf("Enter passphrase for %s: ", p), false)
		if seal.IsEncrypted(data) {
			ask = keyPassword(fmt.Sprintf("Enter password for %s: ", p), false)
		}
		ids, err := seal.ReadIdentities(data, p, ask)
		if err != nil {
			return nil, fmt.Errorf("--identity-file: %w", err)
		}
		out = append(out, ids...)
	}
	return append(out, seal.AskPassphrase(sync.OnceValues(func() ([]byte, error) {
		pw, err := envSecret(encryptPassphraseEnv, "Enter passphrase to decrypt the bundle: ", false)()
		if err != nil {
			return nil, fmt.Errorf("the bundle is encrypted to a passphrase: set %s or run on a terminal", encryptPassphraseEnv)
		}
		return pw, nil
	}))), nil
}

// encryptedReason says briefly why an encrypted file could not be read.
func encryptedReason(err error) string {
	switch {
	case errors.Is(err, seal.ErrEncrypted):
		return "no identity given"
	case errors.Is(err, seal.ErrNoMatch):
		return "to other recipients"
	}
	return "unreadable"
}

// sinceHint explains a --since base that could not be read, unless the library already
// said why (an encrypted base).
func sinceHint(err error) string {
	if errors.Is(err, seal.ErrEncrypted) {
		return ""
	}
	return "--since needs the earlier bundle file (only its head is read)"
}
