package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/pflag"

	"github.com/imgx/imgx/archive"
	"github.com/imgx/imgx/bundle"
	"github.com/imgx/imgx/image"
	"github.com/imgx/imgx/store"
	"github.com/imgx/imgx/verify"
)

// Plugs the imgx bundle format into `imgx save` and `imgx load` (hooks in cmd_save.go and
// cmd_load.go) and holds the trust-policy flags shared with `imgx verify`.

// policyFlags are --key, --threshold and --require-signature.
type policyFlags struct {
	keys      []string
	threshold int
	require   bool
}

func (p *policyFlags) add(fs *pflag.FlagSet) {
	fs.StringArrayVar(&p.keys, "key", nil, "trusted public key file (repeatable); adds to the trust directory")
	fs.IntVar(&p.threshold, "threshold", 0, "number of distinct trusted keys that must have signed (default 1)")
	fs.BoolVar(&p.require, "require-signature", false, "fail instead of warning when no trusted key is configured")
}

// policy combines --key files with $IMGX_TRUST_DIR (default ~/.config/imgx/trusted).
func (p *policyFlags) policy() (verify.Policy, error) {
	pol, err := verify.LoadPolicy(p.keys, verify.TrustDir())
	if err != nil {
		return pol, err
	}
	pol.Threshold = p.threshold
	pol.RequireSignature = p.require
	return pol, nil
}

// loadSigners decrypts signing keys; the password comes from IMGX_PASSWORD or a prompt.
func loadSigners(paths []string) ([]*verify.PrivateKey, error) {
	var out []*verify.PrivateKey
	for _, p := range paths {
		k, err := verify.LoadPrivateKeyFile(p, verify.PasswordFromEnvOrTerminal("", fmt.Sprintf("Enter password for %s: ", p), false))
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

var bundleSave struct {
	signKeys []string
	compress string
	level    string
	since    string
	flatten  bool
	fs       *pflag.FlagSet
}

var bundleLoad policyFlags

func init() {
	saveBundleFlags = func(fs *pflag.FlagSet) {
		o := &bundleSave
		o.fs = fs
		fs.StringArrayVar(&o.signKeys, "sign-key", nil, "imgx format: sign with this private key (repeatable; password from IMGX_PASSWORD or a prompt)")
		fs.StringVar(&o.compress, "compress", "zstd", "imgx format: zstd or none (none makes an oci-archive docker can load)")
		fs.StringVar(&o.level, "level", "default", "imgx format: zstd level: fastest, default or better")
		fs.StringVar(&o.since, "since", "", "imgx format: write a delta that omits blobs carried by this earlier bundle (and its chain)")
		fs.BoolVar(&o.flatten, "flatten", false, "imgx format: write each image as a one-layer image")
	}
	saveBundle = runSaveBundle
	loadBundleFlags = func(fs *pflag.FlagSet) { bundleLoad.add(fs) }
	isBundle = func(p archive.Peeked) bool {
		return len(p.Entries) > 0 && p.Entries[0] == bundle.ManifestName
	}
	loadBundle = runLoadBundle
}

func runSaveBundle(ctx context.Context, e *Env, s *store.Store, req *saveRequest) error {
	o := &bundleSave
	opts := bundle.SaveOptions{Compression: bundle.Compression(o.compress), Level: bundle.Level(o.level)}
	if o.compress != "zstd" && o.compress != "none" {
		return usagef("save: --compress %q: want zstd or none", o.compress)
	}
	if o.fs != nil {
		if f := o.fs.Lookup("platform"); f != nil && f.Value.String() != "" {
			p, err := image.ParsePlatform(f.Value.String())
			if err != nil {
				return usagef("save: --platform: %v", err)
			}
			opts.Platform = &p
		}
	}
	if o.flatten {
		opts.Flatten = bundle.FlattenInStore(opts.Platform, nil)
	}
	if o.since != "" {
		b, err := bundle.ReadBase(ctx, o.since)
		if err != nil {
			return withHint(err, "--since needs the earlier bundle file (only its head is read)")
		}
		opts.Since = b
	}
	keys, err := loadSigners(o.signKeys)
	if err != nil {
		return err
	}
	for _, k := range keys {
		opts.Signers = append(opts.Signers, k)
	}
	if len(keys) == 0 {
		e.Warnf("the bundle is not signed (use --sign-key KEY; 'imgx keygen' makes one)")
	}
	res, err := bundle.SaveImages(ctx, s, req.Images, req.W, opts)
	if err != nil {
		return err
	}
	if req.JSON && req.Output != "-" {
		return writeJSON(e.Stdout, res)
	}
	if req.Output != "-" {
		m := res.Manifest
		kind := "bundle"
		if m.Base != nil {
			kind = fmt.Sprintf("delta bundle on %s", m.Base)
		}
		fmt.Fprintf(e.Stderr, "Wrote %s %s: %d image(s), %d blob(s), %s (%s on disk), manifest %s\n",
			kind, req.Output, len(m.Images), len(m.Blobs), humanSize(m.TotalSize()), humanSize(res.Written), res.ManifestDigest)
		for _, id := range res.Signers {
			fmt.Fprintf(e.Stderr, "Signed by %s\n", id)
		}
	}
	return nil
}

func runLoadBundle(ctx context.Context, e *Env, s *store.Store, r io.Reader, o *loadOptions) error {
	pol, err := bundleLoad.policy()
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
			fmt.Fprintf(e.Stdout, "Loaded image: %s\n", im.Descriptor.Digest)
		}
	}
	return nil
}

// openBundle opens LOCATION ("-" for standard input).
func openBundle(e *Env, loc string) (io.Reader, func(), error) {
	if loc == "-" {
		return e.Stdin, func() {}, nil
	}
	f, err := os.Open(loc)
	if err != nil {
		return nil, nil, err
	}
	return f, func() { f.Close() }, nil
}
