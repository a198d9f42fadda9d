package main

import (
	"context"
	"fmt"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/pflag"

	"github.com/imgx/imgx/image"
	"github.com/imgx/imgx/progress"
	"github.com/imgx/imgx/registry"
)

type pullOptions struct {
	platforms []string
	json      bool
	quiet     bool
	noExtras  bool
	reg       registryFlags
}

func init() {
	var o pullOptions
	register(&Command{
		Name:  "pull",
		Usage: "[flags] NAME[:TAG|@DIGEST]",
		Short: "Pull an image from a registry into the store",
		Long: `Pull copies an image from a registry into the store, tagged with the name given (an
image pulled by digest is stored untagged; NAME@DIGEST finds it).

A multi-platform image is kept whole, index included, unless --platform picks platforms:
one platform stores that platform's image (its digest as the registry lists it); several
store a new index of just those, whose digest differs from the registry's.

Every manifest and blob is checked against its digest before the store commits; a
registry that sends other bytes is an error and nothing is stored. Blobs the store
already has are not downloaded. A broken download resumes where it stopped (--retries).

The signatures, attestations and SBOMs attached to the image and to each platform
manifest pulled come along (cosign's sha256-<hex>.sig/.att/.sbom tags and OCI 1.1
referrers, through the referrers API or its sha256-<hex> tag fallback), at most 64 of
them and 256 MiB; --exclude-extras leaves them out. They are stored linked to their
image, and 'imgx save' carries them.

Credentials come from the Docker config the way docker and crane find them:
$DOCKER_CONFIG/config.json or ~/.docker/config.json, with credential helpers
(credsStore, credHelpers), then $REGISTRY_AUTH_FILE or podman's auth.json. HTTPS is
required unless --insecure; --ca-cert adds a CA to the system pool.`,
		Example: `  imgx pull docker.io/library/debian:bookworm --platform linux/amd64
  imgx pull registry.site.lan:5000/base/debian:bookworm --ca-cert /etc/imgx/site-ca.pem
  imgx pull --insecure 127.0.0.1:5000/app:1.2
  imgx pull ghcr.io/org/app@sha256:4f1c… --json`,
		Flags: func(fs *pflag.FlagSet) {
			fs.StringArrayVar(&o.platforms, "platform", nil, "keep only this platform of a multi-platform image (OS/ARCH[/VARIANT]; repeatable)")
			fs.BoolVar(&o.json, "json", false, "print the result as JSON")
			fs.BoolVarP(&o.quiet, "quiet", "q", false, "print nothing but errors")
			fs.BoolVar(&o.noExtras, "exclude-extras", false, "leave out the signatures, attestations and SBOMs attached to the image")
			o.reg.add(fs)
		},
		Args: exactArgs(1, "one image reference"),
		Run: jsonRun(&o.json, func(ctx context.Context, e *Env, args []string) error {
			var plats []ocispec.Platform
			for _, p := range o.platforms {
				pl, err := image.ParsePlatform(p)
				if err != nil {
					return usagef("--platform %s: %v", p, err)
				}
				plats = append(plats, pl)
			}
			s, err := e.CreateStore()
			if err != nil {
				return err
			}
			ro, err := o.reg.options(e, args[0])
			if err != nil {
				return err
			}
			res, err := registry.Pull(ctx, s, args[0], registry.PullOptions{Options: ro, Platforms: plats, ExcludeExtras: o.noExtras})
			if err != nil {
				return registryHint(err, registryHost(args[0]))
			}
			if o.json {
				return e.printJSON(pullDoc(res))
			}
			if o.quiet {
				return nil
			}
			fmt.Fprintf(e.Stdout, "Pulled: %s\nDigest: %s\n", res.Ref, res.Desc.Digest)
			if len(res.Platforms) > 0 {
				fmt.Fprintf(e.Stdout, "Platforms: %s\n", strings.Join(res.Platforms, ", "))
			}
			if res.Trimmed {
				fmt.Fprintf(e.Stdout, "Note: a new index of %d platforms; the registry's index is %s\n", len(res.Platforms), res.RemoteDigest)
			}
			reused := ""
			if res.Reused > 0 {
				reused = fmt.Sprintf(", %d of them staged by an interrupted pull", res.Reused)
			}
			fmt.Fprintf(e.Stdout, "Blobs: %d (%d downloaded, %s; %d already in the store%s)\n",
				res.Blobs, res.Fetched, progress.Size(res.FetchedBytes), res.Present, reused)
			switch {
			case o.noExtras:
				fmt.Fprintln(e.Stdout, "Artifacts: not looked for (--exclude-extras)")
			case len(res.Artifacts) == 0:
				fmt.Fprintln(e.Stdout, "Artifacts: none attached")
			}
			for _, a := range res.Artifacts {
				fmt.Fprintf(e.Stdout, "Artifact: %s %s of %s (from %s)\n", a.Kind, a.Digest, a.Subject, a.Source)
			}
			return nil
		}),
	})
}
