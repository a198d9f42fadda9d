package main

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/imgx/imgx/progress"
	"github.com/imgx/imgx/registry"
)

type pushOptions struct {
	all   bool
	json  bool
	quiet bool
	noExt bool
	reg   registryFlags
}

func init() {
	var o pushOptions
	register(&Command{
		Name:  "push",
		Usage: "[flags] IMAGE [DESTINATION] | --all REGISTRY/PREFIX",
		Short: "Push images from the store to a registry",
		Long: `Push copies an image from the store to a registry, index and all platforms included,
with its digests unchanged: the registry serves the same manifest bytes, which imgx checks
after the push.

DESTINATION is a registry reference; without a tag it takes IMAGE's tag, and without
DESTINATION the image goes to the registry its name says. Blobs the registry already has
in that repository are not sent again, and blobs it holds in another repository imgx
pushed them to (in this run or an earlier one; the store remembers) are mounted
(cross-repository mount) rather than uploaded.

--all pushes every tagged image in the store under REGISTRY/PREFIX, keeping each
repository path without its registry host (docker.io/library/debian:bookworm goes to
REGISTRY/PREFIX/library/debian:bookworm), the path a containerd or CRI-O registry mirror
looks up. Untagged images are skipped. A failure does not stop the other images; the
exit code is 1 if any failed.

The signatures, attestations and SBOMs stored with an image are pushed with it (cosign's
sha256-<hex>.sig/.att/.sbom tags, OCI referrers by digest), so that 'cosign verify' and
admission controllers find them at the destination; --exclude-extras leaves them out.

Credentials come from the Docker config (see 'imgx pull --help'). HTTPS is required
unless --insecure.`,
		Example: `  imgx push debian:bookworm registry.site.lan:5000/base/debian:bookworm
  imgx push app:1.2 registry.site.lan:5000/apps/app            # tag 1.2 kept
  imgx push --all registry.site.lan:5000/mirror --json
  imgx push --insecure --all 127.0.0.1:5000/mirror`,
		Flags: func(fs *pflag.FlagSet) {
			fs.BoolVar(&o.all, "all", false, "push every tagged image under REGISTRY/PREFIX")
			fs.BoolVar(&o.json, "json", false, "print the result as JSON")
			fs.BoolVarP(&o.quiet, "quiet", "q", false, "print nothing but errors")
			fs.BoolVar(&o.noExt, "exclude-extras", false, "push the images without their signatures, attestations and SBOMs")
			o.reg.add(fs)
		},
		Args: func(args []string) error {
			if o.all && len(args) != 1 {
				return usagef("push --all takes one REGISTRY/PREFIX")
			}
			if len(args) < 1 || len(args) > 2 {
				return usagef("push takes IMAGE [DESTINATION], or --all REGISTRY/PREFIX")
			}
			return nil
		},
		Run: jsonRun(&o.json, func(ctx context.Context, e *Env, args []string) error {
			s, err := e.Store()
			if err != nil {
				return err
			}
			if o.all {
				return pushAll(ctx, e, s, args[0], &o)
			}
			src, err := resolve(ctx, s, args[0])
			if err != nil {
				return err
			}
			dst := args[len(args)-1]
			if len(args) == 1 {
				if src.Ref.IsZero() {
					return usagef("image %s has no name to push to: give a DESTINATION", args[0])
				}
				dst = src.Ref.String()
			}
			dst = registry.Destination(src.Ref, dst)
			ro, err := o.reg.options(e, dst)
			if err != nil {
				return err
			}
			p, err := registry.NewPusher(s, ro)
			if err != nil {
				return err
			}
			defer p.Close()
			p.ExcludeExtras = o.noExt
			res, err := p.Push(ctx, src, dst)
			ro.Progress.Done()
			if err != nil {
				return registryHint(err, registryHost(dst))
			}
			if o.json {
				return e.printJSON(pushJSON{doc, res})
			}
			if !o.quiet {
				printPushed(e, res)
			}
			return nil
		}),
	})
}

func printPushed(e *Env, r *registry.PushResult) {
	fmt.Fprintf(e.Stdout, "Pushed: %s -> %s@%s\n", r.Source, r.Destination, r.Digest)
	fmt.Fprintf(e.Stdout, "  %s: %d uploaded (%s), %d mounted, %d already there\n",
		count(r.Blobs, "blob"), r.Uploaded, progress.Size(r.UploadedBytes), r.Mounted, r.Existing)
	for _, a := range r.Artifacts {
		where := a.Tag
		if where == "" {
			where = "referrer " + a.Digest.String()
		}
		fmt.Fprintf(e.Stdout, "  %s %s of %s -> %s\n", a.Kind, a.Digest, a.Subject, where)
	}
}
