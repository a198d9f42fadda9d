package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/imgx/imgx/intake"
	"github.com/imgx/imgx/internal/safetext"
	"github.com/imgx/imgx/ref"
	"github.com/imgx/imgx/store"
)

type loadOptions struct {
	input     string
	json      bool
	quiet     bool
	tag       string
	policy    policyFlags
	decrypt   decryptFlags
	transport transportFlags
}

func init() {
	var o loadOptions
	register(&Command{
		Name:  "load",
		Usage: "[flags] [-i LOCATION]",
		Short: "Load images from a bundle, docker save, oci-archive or OCI layout",
		Long: `Load verifies and adds images to the store. It reads:

  - imgx bundles: signatures are checked against the trust policy before any blob is
    stored (--key files plus the keys in $IMGX_TRUST_DIR, default ~/.config/imgx/trusted/);
  - docker-archive as written by 'docker save' (any Docker version), podman or skopeo;
  - oci-archive, and OCI image layout directories;

each possibly gzip, zstd, xz or bzip2 compressed as a whole. The format is decided from
the content, never from the file name.

Once any trust is configured (a --key, a key in the trust directory, --threshold or
--require-signature), only imgx bundles whose signatures satisfy it are accepted: unsigned
bundles, untrusted signers and every other format are refused, unless
--insecure-accept-unsigned (then they load with a NOT VERIFIED warning). Misconfigured
trust is an error: $IMGX_TRUST_DIR missing or without keys, a threshold above the keys
found, --require-signature without keys. Without any trust configured, an unsigned bundle
loads with a warning and other formats load as they are. LOCATION is a path, - for
standard input (the default), or an sftp://, ftp:// or ftps:// URL.

Nothing is added unless the whole input was read and every blob checked against its
digest and size; a rejected input leaves the store exactly as it was. An interrupted
bundle load keeps the blobs it verified, and a re-run does not write them again.

--tag NAME names the input's one untagged image (an image saved by digest, an OCI layout
entry without a name) in the same commit that adds it, so only an input the trust policy
accepted is ever named; an existing NAME moves, as with 'imgx tag'. An input without
exactly one untagged image is a usage error (exit 2) and adds nothing.

It prints one "Loaded image: NAME:TAG" line per tag applied, and "Loaded image ID: sha256:…" for an
image without a tag (its image ID, whose first 12 digits 'imgx images' lists).`,
		Example: `  imgx load --key release.pub -i release-1.2.imgx
  imgx load -i sftp://deploy@gateway/incoming/app-1.2.imgx
  docker save app:1 | imgx load
  imgx load -i images.tar.gz
  imgx load -i ./oci-layout-dir --json
  imgx load --tag site/app:1.2 -i app-by-digest.imgx`,
		Flags: func(fs *pflag.FlagSet) {
			fs.StringVarP(&o.input, "input", "i", "-", "what to load: a file, an OCI layout directory, -, or an sftp://, ftp:// or ftps:// URL")
			fs.BoolVar(&o.json, "json", false, "print the result as JSON")
			fs.BoolVarP(&o.quiet, "quiet", "q", false, "print nothing but errors")
			fs.StringVar(&o.tag, "tag", "", "name the input's one untagged image NAME:TAG (moved if it exists, as imgx tag does)")
			o.policy.add(fs, true)
			o.policy.addImage(fs)
			o.decrypt.add(fs)
			o.transport.add(fs, false)
		},
		Args: exactArgs(0, "no arguments (use -i LOCATION)"),
		Run: jsonRun(&o.json, func(ctx context.Context, e *Env, _ []string) error {
			var tag ref.Ref
			if o.tag != "" {
				t, err := ref.ParseNamed(o.tag)
				if err != nil {
					return usagef("--tag: %v", err)
				}
				tag = t
			}
			pol, ipol, ids, err := inputTrust(&o.policy, &o.decrypt)
			if err != nil {
				return err
			}
			s, err := e.CreateStore()
			if err != nil {
				return err
			}
			src, done, err := openInput(ctx, e, o.input, &o.transport)
			if err != nil {
				return err
			}
			defer done()
			res, err := intake.Load(ctx, s, src, intake.Options{Policy: pol, Tag: tag, Identities: ids, Images: ipol})
			if errors.Is(err, store.ErrTagTarget) {
				return withHint(usageError{fmt.Sprintf("load --tag: %s: %v", safetext.Quote(src.Name), err)},
					"--tag names the input's only untagged image; nothing was added to the store")
			}
			if err != nil {
				return withHint(fmt.Errorf("load %s: %w", safetext.Quote(src.Name), err), loadHint(ctx, err))
			}
			return printLoaded(e, res, &o)
		}),
	})
}
