package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/imgx/imgx/bundle"
	"github.com/imgx/imgx/intake"
	"github.com/imgx/imgx/internal/safetext"
	"github.com/imgx/imgx/verify"
)

func init() {
	var o struct {
		policy     policyFlags
		digestOnly bool
		fast       bool
		json       bool
		decrypt    decryptFlags
		transport  transportFlags
	}
	register(&Command{
		Name:  "verify",
		Usage: "[--key PUB]... [--threshold K] [--digest-only] [--fast] [--json] LOCATION",
		Short: "Check a bundle's signatures and contents without loading it",
		Long: `Verify reads a whole bundle and checks: its signatures against the trust policy (the
--key files plus the public keys in $IMGX_TRUST_DIR, default ~/.config/imgx/trusted/), every
blob's digest and size, the entry order, manifests and configs against each other, and,
unless --fast, each layer decompressed against its diff ID. It reports every problem, not
only the first, and shows the signers, the images and, for a delta bundle, the bundle it
builds on.

Exit codes: 0 the bundle verified; 1 any problem; 2 usage error.`,
		Example: `  imgx verify --key release.pub release-1.2.imgx
  imgx verify --key a.pub --key b.pub --threshold 2 release-1.2.imgx
  imgx verify --key release.pub ftp://depot.lan/pub/incoming/app-1.2.imgx
  imgx verify --digest-only release-1.2.imgx     # no trusted key: digests only, says so
  ssh host cat b.imgx | imgx verify --fast --json -`,
		Flags: func(fs *pflag.FlagSet) {
			o.policy.add(fs, false)
			o.policy.addImage(fs)
			fs.BoolVar(&o.digestOnly, "digest-only", false, "check digests and structure without any trusted key; prints NOT VERIFIED (excludes --key, --threshold, --require-signature and keys in $IMGX_TRUST_DIR)")
			fs.BoolVar(&o.fast, "fast", false, "skip decompressing layers to check diff IDs")
			fs.BoolVar(&o.json, "json", false, "print the report as JSON")
			o.decrypt.add(fs)
			o.transport.add(fs, false)
		},
		Args: exactArgs(1, "LOCATION (a file, -, or an sftp://, ftp://, ftps:// URL)"),
		Run: jsonRun(&o.json, func(ctx context.Context, e *Env, args []string) error {
			var pol verify.Policy
			if o.digestOnly {
				if len(o.policy.keys) > 0 || o.policy.threshold != 0 || o.policy.require {
					return usagef("--digest-only excludes --key, --threshold and --require-signature")
				}
				if dir, explicit := verify.DefaultTrustDir(os.Getenv); explicit {
					return usagef("--digest-only with $IMGX_TRUST_DIR=%s set: unset it to check digests only", dir)
				}
			} else {
				var err error
				if pol, err = o.policy.policy(); err != nil {
					return err
				}
			}
			ipol, err := o.policy.images()
			if err != nil {
				return err
			}
			ids, err := o.decrypt.identities()
			if err != nil {
				return err
			}
			src, done, err := openInput(ctx, e, args[0], &o.transport)
			if err != nil {
				return err
			}
			defer done()
			rep, err := intake.Verify(ctx, src, intake.VerifyOptions{Policy: pol, DigestOnly: o.digestOnly, Fast: o.fast, Identities: ids, Images: ipol})
			if rep == nil {
				return fmt.Errorf("verify %s: %w", safetext.Quote(args[0]), err)
			}
			if o.json {
				if jerr := e.printJSON(verifyDoc(rep, o.digestOnly)); jerr != nil {
					return jerr
				}
			} else {
				printVerify(e, args[0], rep, o.digestOnly)
			}
			if err != nil {
				return fmt.Errorf("verify %s: %s", safetext.Quote(args[0]), count(len(rep.Problems), "problem"))
			}
			return nil
		}),
	})
}

func printVerify(e *Env, name string, rep *bundle.Report, digestOnly bool) {
	w := e.Stdout
	m := rep.Manifest
	fmt.Fprintf(w, "Bundle:     %s (format %s, %s, created %s)\n", safetext.Quote(name), safetext.Quote(m.FormatVersion), rep.Compression, m.Created.Format("2006-01-02 15:04:05Z"))
	fmt.Fprintf(w, "Manifest:   %s\n", rep.ManifestDigest)
	for _, s := range rep.Signature.Signers {
		state := "valid"
		switch {
		case digestOnly:
			state = "not checked"
		case !s.Trusted:
			state = "untrusted key"
		case !s.Valid:
			state = "INVALID"
		}
		fmt.Fprintf(w, "Signature:  %s (%s)\n", s.KeyID, state)
	}
	if len(rep.Signature.Signers) == 0 {
		fmt.Fprintf(w, "Signature:  none\n")
	}
	if rep.Signature.Warning != "" && !digestOnly {
		e.Warnf("%s", rep.Signature.Warning)
	}
	if rep.Base != nil {
		fmt.Fprintf(w, "Delta on:   %s; expects %s already loaded\n", safetext.Quote(rep.Base.String()), count(rep.Expected, "blob"))
	}
	for _, im := range rep.Images {
		// The tag load would apply, never a display name of the bundle's choosing.
		name := im.Tag()
		if name == "" {
			name = "<untagged>"
		}
		extra := ""
		if im.FlattenedFrom != "" {
			extra = ", flattened from " + im.FlattenedFrom.String()
		}
		fmt.Fprintf(w, "Image:      %s %s%s\n", safetext.Quote(name), im.Descriptor.Digest, extra)
	}
	fmt.Fprintf(w, "Checked:    %d of %s, %s; %s unpacked\n", rep.BlobsChecked, count(len(m.Blobs), "blob"), humanSize(rep.Bytes), count(rep.LayersUnpacked, "layer"))
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "problem: %s\n", safetext.Lines(p.Error()))
	}
	switch {
	case !rep.OK():
		fmt.Fprintf(w, "FAILED: %s\n", count(len(rep.Problems), "problem"))
	case digestOnly || !rep.Signature.Verified:
		fmt.Fprintln(w, "NOT VERIFIED: no trusted key; signatures were not checked (--digest-only)")
		fmt.Fprintln(w, "DIGESTS OK")
	default:
		fmt.Fprintln(w, "OK")
	}
}
