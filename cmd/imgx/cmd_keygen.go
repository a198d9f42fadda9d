package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/pflag"

	"github.com/imgx/imgx/internal/atomicfile"
	"github.com/imgx/imgx/verify"
)

func init() {
	var o struct {
		prefix      string
		force, json bool
		encryption  bool
	}
	register(&Command{
		Name:  "keygen",
		Usage: "[--output-prefix NAME] [--force]",
		Short: "Make a signing key pair (cosign format), or an encryption key (age)",
		Long: `Keygen makes an ECDSA P-256 key pair in cosign's format: NAME.key, the private key,
encrypted with a password (mode 0600), and NAME.pub, the public key to give to the sites
that verify your bundles ('imgx verify --key NAME.pub', or copy it into their trust
directory). Keys made by 'cosign generate-key-pair' work with imgx and the other way round.

The password is read from IMGX_PASSWORD if it is set (even to the empty string), else
prompted twice on the terminal; it is never taken from the command line.

--encryption makes an age X25519 key instead, for encrypted bundles: NAME-encryption.key,
the identity a receiver gives to 'imgx load --identity-file' (mode 0600, encrypted with
the password as 'age -p' would; IMGX_PASSWORD set to "" leaves it in the clear, as
age-keygen writes it), and NAME-encryption.pub, the recipient (age1…) for the sender's
'imgx save --encrypt-to' or --encrypt-to-file.`,
		Example: `  imgx keygen --output-prefix release
  IMGX_PASSWORD=… imgx keygen --output-prefix ci
  imgx keygen --encryption --output-prefix site-a`,
		Flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&o.prefix, "output-prefix", "imgx", "write NAME.key and NAME.pub (with --encryption NAME-encryption.key and .pub)")
			fs.BoolVar(&o.encryption, "encryption", false, "make an age encryption key (identity and recipient) instead of a signing key")
			fs.BoolVar(&o.force, "force", false, "overwrite existing key files")
			fs.BoolVar(&o.json, "json", false, "print JSON")
		},
		Args: exactArgs(0, "no arguments"),
		Run: jsonRun(&o.json, func(ctx context.Context, e *Env, args []string) error {
			if o.encryption {
				return keygenEncryption(e, o.prefix, o.force, o.json)
			}
			keyPath, pubPath := o.prefix+".key", o.prefix+".pub"
			if !o.force {
				for _, p := range []string{keyPath, pubPath} {
					if _, err := os.Stat(p); err == nil {
						return withHint(fmt.Errorf("keygen: %s exists", p), "use --force to overwrite, or another --output-prefix")
					} else if !errors.Is(err, fs.ErrNotExist) {
						return err
					}
				}
			}
			pw, err := keyPassword("Enter password for private key: ", true)()
			if err != nil {
				return err
			}
			priv, pub, err := verify.GenerateKeyPair(pw)
			if err != nil {
				return err
			}
			if err := writeKeyFile(keyPath, priv, 0o600); err != nil {
				return err
			}
			if err := writeKeyFile(pubPath, pub, 0o644); err != nil {
				return err
			}
			k, err := verify.LoadPublicKey(pub)
			if err != nil {
				return err
			}
			if o.json {
				return e.printJSON(keygenJSON{doc, k.ID(), keyPath, pubPath})
			}
			fmt.Fprintf(e.Stdout, "Private key written to %s\nPublic key written to %s\nKey ID: %s\n", keyPath, pubPath, k.ID())
			return nil
		}),
	})
}

// writeKeyFile writes a key atomically through internal/atomicfile: a new temporary file
// (O_EXCL|O_NOFOLLOW, mode 0600 until mode is applied) renamed into place, so a link
// planted beside the key never receives it and a crash never leaves half a key.
func writeKeyFile(path string, data []byte, mode os.FileMode) error {
	if err := atomicfile.WriteFile(path, data, mode); err != nil {
		return fmt.Errorf("keygen: write %s: %w", path, err)
	}
	return nil
}
