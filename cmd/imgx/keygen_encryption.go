package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/imgx/imgx/seal"
)

// keygenEncryptionJSON is keygen --encryption --json.
type keygenEncryptionJSON struct {
	jsonDoc
	Recipient     string `json:"recipient"`      // age1…, for save --encrypt-to
	IdentityFile  string `json:"identity_file"`  // path of the identity (private key) written
	RecipientFile string `json:"recipient_file"` // path of the recipient file written
}

// keygenEncryption writes an age X25519 identity to NAME-encryption.key (0600, encrypted
// with the key password) and its recipient to NAME-encryption.pub, and prints the
// recipient.
func keygenEncryption(e *Env, prefix string, force, asJSON bool) error {
	keyPath, pubPath := prefix+"-encryption.key", prefix+"-encryption.pub"
	if !force {
		for _, p := range []string{keyPath, pubPath} {
			if _, err := os.Stat(p); err == nil {
				return withHint(fmt.Errorf("keygen: %s exists", p), "use --force to overwrite, or another --output-prefix")
			} else if !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	id, rcpt, err := seal.GenerateIdentity(timeNow())
	if err != nil {
		return err
	}
	// Encrypted with a password, as signing keys are; an empty one (IMGX_PASSWORD set
	// to "") writes it as age-keygen does, in the clear, with a warning.
	pw, err := keyPassword("Enter password for the encryption key: ", true)()
	if err != nil {
		return err
	}
	if len(pw) == 0 {
		e.Warnf("%s is not encrypted (empty password): protect it like an SSH key", keyPath)
	} else if id, err = seal.ProtectIdentity(id, pw); err != nil {
		return err
	}
	if err := writeKeyFile(keyPath, id, 0o600); err != nil {
		return err
	}
	if err := writeKeyFile(pubPath, []byte(rcpt+"\n"), 0o644); err != nil {
		return err
	}
	if asJSON {
		return e.printJSON(keygenEncryptionJSON{doc, rcpt, keyPath, pubPath})
	}
	fmt.Fprintf(e.Stdout, "Identity (private key) written to %s\nRecipient written to %s\nRecipient: %s\n", keyPath, pubPath, rcpt)
	return nil
}
