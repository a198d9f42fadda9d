package main

import (
	"context"
	"crypto"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/imgx/imgx/bundle"
)

func init() {
	var o struct{ keys []string }
	register(&Command{
		Name:  "sign",
		Usage: "--key KEY [--key KEY]... BUNDLE",
		Short: "Add a signature to an existing bundle",
		Long: `Sign adds a signature to a bundle file, for a second approver: the signature covers
the bundle manifest, which pins every blob by digest. Blobs are not changed: for a zstd
bundle written by imgx only the small head of the file is rewritten. The file is replaced
atomically. Run 'imgx verify' first: sign vouches for what the manifest says.

The key's password is read from IMGX_PASSWORD, else prompted on the terminal.`,
		Example: `  imgx verify --key release.pub release-1.2.imgx
  imgx sign --key second-approver.key release-1.2.imgx`,
		Flags: func(fs *pflag.FlagSet) {
			fs.StringArrayVar(&o.keys, "key", nil, "private key file (repeatable)")
		},
		Args: exactArgs(1, "BUNDLE"),
		Run: func(ctx context.Context, e *Env, args []string) error {
			if len(o.keys) == 0 {
				return usagef("sign: --key KEY is required")
			}
			keys, err := loadSigners(o.keys)
			if err != nil {
				return err
			}
			var signers []crypto.Signer
			for _, k := range keys {
				signers = append(signers, k)
			}
			ids, err := bundle.SignFile(ctx, args[0], signers...)
			if err != nil {
				return err
			}
			for _, id := range ids {
				fmt.Fprintf(e.Stdout, "Signed %s with key %s\n", args[0], id)
			}
			return nil
		},
	})
}
