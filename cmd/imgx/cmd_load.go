package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/imgx/imgx/archive"

	"github.com/imgx/imgx/intake"
	"github.com/imgx/imgx/internal/safetext"
)

type loadOptions struct {
	input     string
	json      bool
	quiet     bool
	policy    policyFlags
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

It prints one "Loaded image: NAME:TAG" line per tag applied, and "Loaded image ID: sha256:…" for an
image without a tag.`,
		Example: `  imgx load --key release.pub -i release-1.2.imgx
  imgx load -i sftp://deploy@gateway/incoming/app-1.2.imgx
  docker save app:1 | imgx load
  imgx load -i images.tar.gz
  imgx load -i ./oci-layout-dir --json`,
		Flags: func(fs *pflag.FlagSet) {
			fs.StringVarP(&o.input, "input", "i", "-", "what to load: a file, an OCI layout directory, -, or an sftp://, ftp:// or ftps:// URL")
			fs.BoolVar(&o.json, "json", false, "print the result as JSON")
			fs.BoolVarP(&o.quiet, "quiet", "q", false, "print nothing but errors")
			o.policy.add(fs, true)
			o.policy.addImage(fs)
			o.transport.add(fs, false)
		},
		Args: exactArgs(0, "no arguments (use -i LOCATION)"),
		Run: jsonRun(&o.json, func(ctx context.Context, e *Env, _ []string) error {
			pol, err := o.policy.policy()
			if err != nil {
				return err
			}
			ipol, err := o.policy.images()
			if err != nil {
				return err
			}
			s, err := e.CreateStore()
			if err != nil {
				return err
			}
			in, err := openInput(ctx, e, o.input, &o.transport)
			if err != nil {
				return err
			}
			src := intake.Input{Name: in.name, Dir: in.dir}
			if in.dir == "" {
				defer in.r.Close()
				src.R = in.r
			}
			res, err := intake.Load(ctx, s, src, intake.Options{Policy: pol, Images: ipol})
			if err != nil {
				return withHint(fmt.Errorf("load %s: %w", safetext.Quote(in.name), err), loadHint(ctx, err))
			}
			return printLoaded(e, res, &o)
		}),
	})
}

func loadHint(ctx context.Context, err error) string {
	switch {
	case ctx.Err() != nil:
		return "interrupted: blobs already verified stay staged; re-run the same command to resume"
	case errors.Is(err, intake.ErrUnsignedFormat):
		return "save it as a signed imgx bundle on the sending side (imgx save --sign-key), or pass --insecure-accept-unsigned to load it unverified; nothing was added to the store"
	case errors.Is(err, archive.ErrUnknownFormat):
		return "imgx load reads imgx bundles, docker-archive, oci-archive and OCI layouts (a directory must hold index.json or manifest.json); nothing was added to the store"
	}
	return "no image was added to the store; blobs that verified stay staged, so a re-run resumes (imgx prune removes them)"
}

// printReused tells that a re-run resumed an interrupted load.
func printReused(e *Env, n int) {
	if n > 0 {
		fmt.Fprintf(e.Stdout, "Reused %d staged blobs verified by an interrupted load\n", n)
	}
}

func printLoaded(e *Env, res *intake.Result, o *loadOptions) error {
	for _, w := range res.Warnings {
		e.Warnf("%s", w)
	}
	if res.Archive != nil {
		for _, n := range res.Archive.Notes {
			e.Warnf("%s", n)
		}
	}
	if o.json {
		return writeJSON(e.Stdout, loadDoc(res))
	}
	if o.quiet {
		return nil
	}
	for _, id := range res.TrustedBy {
		fmt.Fprintf(e.Stdout, "Verified signature: %s\n", id)
	}
	for i, im := range res.Images {
		switch {
		case im.Tag != "":
			fmt.Fprintf(e.Stdout, "Loaded image: %s\n", safetext.Quote(im.Tag))
		case res.Archive != nil:
			fmt.Fprintf(e.Stdout, "Loaded image ID: %s\n", res.Archive.Images[i].ID)
		default:
			fmt.Fprintf(e.Stdout, "Loaded image ID: %s\n", im.Digest)
		}
	}
	for _, name := range res.ImagesVerified {
		fmt.Fprintf(e.Stdout, "Verified image signature: %s\n", safetext.Quote(name))
	}
	if res.Bundle != nil && len(res.Bundle.Manifest.Artifacts) > 0 {
		fmt.Fprintf(e.Stdout, "Artifacts: %d (signatures, attestations, SBOMs) stored with their images\n", len(res.Bundle.Manifest.Artifacts))
	}
	if res.Bundle != nil {
		printReused(e, res.Bundle.BlobsReused)
	} else if res.Archive != nil {
		printReused(e, res.Archive.BlobsReused)
	}
	return nil
}
