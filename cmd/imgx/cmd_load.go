package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/imgx/imgx/archive"
	"github.com/imgx/imgx/store"
)

// Hooks for the imgx bundle format, set in init by the bundle command's own file so that
// `imgx load` stays one command. isBundle looks at the peeked start of the input;
// loadBundle then loads it from r, of which nothing has been consumed. loadBundleFlags,
// if set, adds the bundle's flags (keys, trust policy) to `imgx load`.
var (
	isBundle        func(p archive.Peeked) bool
	loadBundle      func(ctx context.Context, e *Env, s *store.Store, r io.Reader, o *loadOptions) error
	loadBundleFlags func(fs *pflag.FlagSet)
)

type loadOptions struct {
	input string
	json  bool
	quiet bool
}

func init() {
	var o loadOptions
	register(&Command{
		Name:  "load",
		Usage: "[-i FILE|DIR|-] [--json]",
		Short: "Load images from a docker save, oci-archive or OCI layout",
		Long: `Load reads images from an archive and adds them to the store: docker-archive as written
by 'docker save' (any Docker version), podman or skopeo; oci-archive; an OCI image layout
directory; each archive possibly gzip, zstd, xz or bzip2 compressed as a whole. Input from
a pipe is read in one pass. Nothing is added unless the whole archive was read and every
blob checked against its digest, size and the image config's diff IDs; a rejected archive
leaves the store as it was.

It prints one "Loaded image: NAME:TAG" line per tag, and "Loaded image ID: sha256:…" for an
image without a tag.`,
		Example: `  docker save app:1 | imgx load
  imgx load -i images.tar.gz
  imgx load -i ./oci-layout-dir --json`,
		Flags: func(fs *pflag.FlagSet) {
			fs.StringVarP(&o.input, "input", "i", "-", "archive file, OCI layout directory, or - for standard input")
			fs.BoolVar(&o.json, "json", false, "print the result as JSON")
			fs.BoolVarP(&o.quiet, "quiet", "q", false, "print nothing but errors")
			if loadBundleFlags != nil {
				loadBundleFlags(fs)
			}
		},
		Args: exactArgs(0, "no arguments (use -i FILE)"),
		Run: func(ctx context.Context, e *Env, _ []string) error {
			s, err := e.Store()
			if err != nil {
				return err
			}
			return runLoad(ctx, e, s, &o)
		},
	})
}

func runLoad(ctx context.Context, e *Env, s *store.Store, o *loadOptions) error {
	var res *archive.Result
	if o.input != "-" {
		if fi, err := os.Stat(o.input); err == nil && fi.IsDir() {
			r, err := archive.LoadDir(ctx, s, o.input, archive.LoadOptions{})
			if err != nil {
				return withHint(err, "a directory must be an OCI image layout (index.json) or an unpacked docker save (manifest.json)")
			}
			return printLoaded(e, r, o)
		}
	}
	var in io.Reader = e.Stdin
	if o.input == "-" {
		if f, ok := e.Stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			return withHint(usagef("load: standard input is a terminal"), "pipe an archive in ('docker save app | imgx load') or use -i FILE")
		}
	} else {
		f, err := os.Open(o.input)
		if err != nil {
			return fmt.Errorf("load: %w", err)
		}
		defer f.Close()
		in = f
	}
	br := bufio.NewReaderSize(in, 1<<20)
	p, err := archive.Peek(br)
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	if isBundle != nil && loadBundle != nil && isBundle(p) {
		return loadBundle(ctx, e, s, br, o)
	}
	res, err = archive.Load(ctx, s, br, archive.LoadOptions{})
	if err != nil {
		return withHint(err, "imgx load reads docker-archive, oci-archive and OCI layouts; nothing was added to the store")
	}
	return printLoaded(e, res, o)
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
	return nil
}
