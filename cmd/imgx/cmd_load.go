package main

import (
	"bufio"
	"context"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/imgx/imgx/archive"
	"github.com/imgx/imgx/bundle"
	"github.com/imgx/imgx/store"
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
    stored (--key files plus the keys in $IMGX_TRUST_DIR, default ~/.config/imgx/trusted/;
    with any trusted key configured, unsigned bundles and untrusted signers are refused);
  - docker-archive as written by 'docker save' (any Docker version), podman or skopeo;
  - oci-archive, and OCI image layout directories;

each possibly gzip, zstd, xz or bzip2 compressed as a whole. LOCATION is a path, - for
standard input (the default), or an sftp://, ftp:// or ftps:// URL.

Nothing is added unless the whole input was read and every blob checked against its
digest and size; a rejected input leaves the store exactly as it was. An interrupted
bundle load keeps the blobs it verified, and a re-run does not write them again.

It prints one "Loaded image: NAME:TAG" line per tag, and "Loaded image ID: sha256:…" for an
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
			o.policy.add(fs)
			o.transport.add(fs, false)
		},
		Args: exactArgs(0, "no arguments (use -i LOCATION)"),
		Run: func(ctx context.Context, e *Env, _ []string) error {
			s, err := e.Store()
			if err != nil {
				return err
			}
			in, err := openInput(ctx, e, o.input, &o.transport)
			if err != nil {
				return err
			}
			if in.dir != "" {
				r, err := archive.LoadDir(ctx, s, in.dir, archive.LoadOptions{})
				if err != nil {
					return withHint(err, "a directory must be an OCI image layout (index.json) or an unpacked docker save (manifest.json)")
				}
				return printLoaded(e, r, &o)
			}
			defer in.r.Close()
			br := bufio.NewReaderSize(in.r, 1<<20)
			p, err := archive.Peek(br)
			if err != nil {
				return fmt.Errorf("load %s: %w", in.name, err)
			}
			if len(p.Entries) > 0 && p.Entries[0] == bundle.ManifestName {
				return loadBundle(ctx, e, s, br, &o)
			}
			res, err := archive.Load(ctx, s, br, archive.LoadOptions{})
			if err != nil {
				return withHint(fmt.Errorf("load %s: %w", in.name, err), "imgx load reads imgx bundles, docker-archive, oci-archive and OCI layouts; nothing was added to the store")
			}
			return printLoaded(e, res, &o)
		},
	})
}

func loadBundle(ctx context.Context, e *Env, s *store.Store, r *bufio.Reader, o *loadOptions) error {
	pol, err := o.policy.policy()
	if err != nil {
		return err
	}
	res, err := bundle.Load(ctx, s, r, bundle.LoadOptions{Policy: pol})
	if err != nil {
		hint := "nothing was added to the store"
		if ctx.Err() != nil {
			hint = "interrupted: blobs already verified stay staged; re-run the same command to resume"
		}
		return withHint(err, hint)
	}
	if w := res.Signature.Warning; w != "" {
		e.Warnf("%s", w)
	}
	if o.json {
		return writeJSON(e.Stdout, res)
	}
	if o.quiet {
		return nil
	}
	for _, id := range res.Signature.TrustedBy {
		fmt.Fprintf(e.Stdout, "Verified signature: %s\n", id)
	}
	for _, im := range res.Images {
		if im.Name != "" {
			fmt.Fprintf(e.Stdout, "Loaded image: %s\n", im.Name)
		} else {
			fmt.Fprintf(e.Stdout, "Loaded image ID: %s\n", im.Descriptor.Digest)
		}
	}
	printReused(e, res.BlobsReused)
	return nil
}

// printReused tells that a re-run resumed an interrupted load.
func printReused(e *Env, n int) {
	if n > 0 {
		fmt.Fprintf(e.Stdout, "Reused %d staged blobs verified by an interrupted load\n", n)
	}
}

func printLoaded(e *Env, res *archive.Result, o *loadOptions) error {
	for _, n := range res.Notes {
		e.Warnf("%s", n)
	}
	if o.json {
		return writeJSON(e.Stdout, res)
	}
	if o.quiet {
		return nil
	}
	for _, l := range res.Images {
		if l.Name != "" {
			fmt.Fprintf(e.Stdout, "Loaded image: %s\n", l.Name)
		} else {
			fmt.Fprintf(e.Stdout, "Loaded image ID: %s\n", l.ID)
		}
	}
	printReused(e, res.BlobsReused)
	return nil
}
