package main

import (
	"context"
	"fmt"
	"sort"

	"github.com/spf13/pflag"

	"github.com/imgx/imgx/internal/errcode"
	"github.com/imgx/imgx/progress"
	"github.com/imgx/imgx/registry"
	"github.com/imgx/imgx/store"
)

type pushOptions struct {
	all   bool
	json  bool
	quiet bool
	noExt bool
	reg   registryFlags
}

// pushSummary is the --json output of push --all.
type pushSummary struct {
	jsonDoc
	Images        []pushOutcome `json:"images"`
	Pushed        int           `json:"pushed"`
	Failed        int           `json:"failed"`
	Skipped       int           `json:"skipped_untagged"`
	UploadedBytes int64         `json:"uploaded_bytes"`
}

type pushOutcome struct {
	*registry.PushResult
	Source      string `json:"source"`
	Destination string `json:"destination"`
	Error       string `json:"error,omitempty"`
	Code        string `json:"code,omitempty"`
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

func pushAll(ctx context.Context, e *Env, s *store.Store, prefix string, o *pushOptions) error {
	entries, err := s.Entries()
	if err != nil {
		return err
	}
	sum := pushSummary{jsonDoc: doc, Images: []pushOutcome{}}
	type job struct {
		src store.Resolved
		dst string
	}
	var jobs []job
	byDst := map[string]string{}
	for _, en := range entries {
		if en.Ref.IsZero() {
			sum.Skipped++
			continue
		}
		dst := registry.UnderPrefix(prefix, en.Ref)
		if other, ok := byDst[dst]; ok {
			return fmt.Errorf("push --all: %s and %s would both go to %s; push one of them by hand", other, en.Ref.Familiar(), dst)
		}
		byDst[dst] = en.Ref.Familiar()
		jobs = append(jobs, job{store.Resolved{Desc: en.Desc, Ref: en.Ref}, dst})
	}
	sort.Slice(jobs, func(i, j int) bool { return jobs[i].dst < jobs[j].dst })
	if len(jobs) == 0 {
		return fmt.Errorf("push --all: no tagged images in %s", s.Root())
	}
	if err := registry.CheckPrefix(prefix); err != nil {
		return usagef("push --all: %v", err)
	}
	ro, err := o.reg.options(e, prefix)
	if err != nil {
		return err
	}
	defer ro.Progress.Done()
	p, err := registry.NewPusher(s, ro)
	if err != nil {
		return err
	}
	defer p.Close()
	p.ExcludeExtras = o.noExt
	var firstErr error
	for _, j := range jobs {
		j.src.Desc.Annotations = nil
		res, err := p.Push(ctx, j.src, j.dst)
		out := pushOutcome{PushResult: res, Source: j.src.Ref.String(), Destination: j.dst}
		if err != nil {
			err = registryHint(err, registryHost(j.dst))
			if firstErr == nil {
				firstErr = err
			}
			out.Error, out.Code = err.Error(), errcode.Of(err)
			sum.Failed++
			e.Warnf("%v", err)
			if ctx.Err() != nil {
				break
			}
		} else {
			sum.Pushed++
			sum.UploadedBytes += res.UploadedBytes
			if !o.json && !o.quiet {
				printPushed(e, res)
			}
		}
		sum.Images = append(sum.Images, out)
	}
	if o.json {
		if err := e.printJSON(sum); err != nil {
			return err
		}
	} else if !o.quiet {
		fmt.Fprintf(e.Stdout, "push --all: %d pushed, %d failed, %d untagged skipped; %s uploaded\n",
			sum.Pushed, sum.Failed, sum.Skipped, progress.Size(sum.UploadedBytes))
	}
	if sum.Failed > 0 {
		if sum.Failed == 1 {
			return firstErr
		}
		return fmt.Errorf("push --all: %d of %d images failed (first: %w)", sum.Failed, len(jobs), firstErr)
	}
	return nil
}
