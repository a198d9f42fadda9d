package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/pflag"

	"github.com/imgx/imgx/archive"
	"github.com/imgx/imgx/bundle"
	"github.com/imgx/imgx/image"
	"github.com/imgx/imgx/store"
)

type saveOptions struct {
	format, output, platform string
	outputs                  []string // -o, repeatable; output is the first
	json, verify, quiet      bool
	// imgx bundles
	signKeys                           []string
	compress, level, since, sinceState string
	always, flatten, noExtras          bool
	layerRecipes                       bool
	encrypt                            encryptFlags
	transport                          transportFlags
}

func init() {
	var o saveOptions
	register(&Command{
		Name:  "save",
		Usage: "[flags] [-o LOCATION] IMAGE...",
		Short: "Write images to a signed bundle or an archive, locally or to a server",
		Long: `Save writes one or more images as one file. Blobs the images share are written once.

  --format imgx            an imgx bundle (default): signed, deduplicated, zstd; see
                           docs/bundle-format.md. Uncompressed (--compress none) it is also
                           an oci-archive that docker load and skopeo accept.
  --format docker-archive  for 'docker load' (all versions), 'podman load', skopeo and crane
  --format oci-archive     for 'skopeo copy oci-archive:…', buildah, podman

LOCATION is a path (a USB stick is a directory), - for standard output, or an
sftp://[user@]host[:port]/path, ftp://… or ftps://… URL. The file appears under its name
only when complete; an interrupted upload resumes when the same command runs again (imgx
bundles are reproducible: the same images and key give the same bytes). -o may be
repeated: the file is made once and written to every LOCATION at once, each reported as
verified (--verify), written or failed; exit 1 if any failed.

Nightly deltas: --since BUNDLE leaves out the layers an earlier bundle (and its chain)
carried; --since-state FILE does the same from a small state file that save updates after
the bundle was published, so the sender needs no old bundles. If nothing changed since
the last bundle, save says so and writes nothing (exit 0) unless --always.`,
		Example: `  imgx save app:1.2 web:3 --sign-key release.key -o release-1.2.imgx
  imgx save app:1.2 --flatten --sign-key release.key -o /media/usb/app-flat.imgx
  imgx save app:1.2 --sign-key release.key -o sftp://deploy@gateway/incoming/app-1.2.imgx
  imgx save app:1.2 --sign-key release.key --verify -o /media/usb1/app.imgx -o /media/usb2/app.imgx
  imgx save --since-state /var/lib/imgx/sent.json --sign-key release.key app:stable \
      -o sftp://deploy@gateway/incoming/nightly-$(date +%Y%m%d).imgx
  imgx save --format docker-archive -o images.tar app:1 web:2     # then: docker load -i images.tar
  imgx save app:1.2 --sign-key release.key | ssh airgap imgx load --key release.pub`,
		Flags: func(fs *pflag.FlagSet) {
			fs.Var(newEnum(&o.format, "imgx", "imgx", string(archive.FormatDockerArchive), string(archive.FormatOCIArchive)), "format", "output format: imgx, docker-archive or oci-archive")
			fs.StringArrayVarP(&o.outputs, "output", "o", nil, "where to write: a path, - (the default), or an sftp://, ftp:// or ftps:// URL; repeatable: the same file to every LOCATION at once")
			fs.StringVar(&o.platform, "platform", "", "only this platform of multi-platform images (OS/ARCH[/VARIANT])")
			fs.BoolVar(&o.json, "json", false, "print a JSON summary")
			fs.BoolVarP(&o.quiet, "quiet", "q", false, "print only warnings and errors, no summary and no progress")
			fs.BoolVar(&o.verify, "verify", false, "read the written file back and check it end to end")
			fs.StringArrayVar(&o.signKeys, "sign-key", nil, "imgx: sign with this private key (repeatable; password from IMGX_PASSWORD or a prompt)")
			fs.Var(newEnum(&o.compress, "zstd", "zstd", "none"), "compress", "imgx: zstd or none")
			fs.Var(newEnum(&o.level, "default", string(bundle.LevelFastest), string(bundle.LevelDefault), string(bundle.LevelBetter)), "level", "imgx: zstd level: fastest, default or better")
			fs.BoolVar(&o.flatten, "flatten", false, "imgx: write each image as a one-layer image")
			fs.StringVar(&o.since, "since", "", "imgx: write a delta omitting layers this earlier bundle (and its chain) carried")
			fs.StringVar(&o.sinceState, "since-state", "", "imgx: write a delta against the state FILE and update it after publishing")
			fs.BoolVar(&o.always, "always", false, "with --since-state: write a bundle even if nothing changed")
			fs.BoolVar(&o.layerRecipes, "layer-recipes", false, "imgx: with --since or --since-state, ship a rebuilt layer as a recipe over its predecessor when that pays (a format 2.0 bundle)")
			fs.BoolVar(&o.noExtras, "exclude-extras", false, "leave out the signatures, attestations and SBOMs attached to the images")
			o.encrypt.add(fs)
			o.transport.add(fs, true)
		},
		Args: minArgs(1, "at least one IMAGE"),
		Run: jsonRun(&o.json, func(ctx context.Context, e *Env, args []string) error {
			// Usage errors first: nothing is opened or printed for a call that cannot run.
			if o.quiet {
				o.transport.progress = "none"
			}
			o.output = firstOutput(o.outputs)
			if o.json && (o.output == "-" || o.output == "") {
				return withHint(usagef("save --json prints the summary on standard output, where the bundle would go"), "give -o FILE or a URL")
			}
			if o.layerRecipes && o.since == "" && o.sinceState == "" {
				return usagef("--layer-recipes needs --since or --since-state (recipes build on layers the receiver has)")
			}
			if o.since != "" && o.sinceState != "" {
				return usagef("--since and --since-state exclude each other")
			}
			if err := checkOutputs(e, o.outputs, &o.transport); err != nil {
				return err
			}
			s, err := e.Store()
			if err != nil {
				return err
			}
			images := make([]store.Resolved, len(args))
			for i, a := range args {
				if images[i], err = resolve(ctx, s, a); err != nil {
					return err
				}
			}
			var platform *ocispec.Platform
			if o.platform != "" {
				p, err := image.ParsePlatform(o.platform)
				if err != nil {
					return usagef("--platform: %v", err)
				}
				platform = &p
			}
			var out *outputResult
			publish := func(ctx context.Context, size int64, write func(io.Writer) error) (err error) {
				out, err = writeOutputs(ctx, e, o.outputs, &o.transport, size, o.verify, write)
				return err
			}
			if o.format == "imgx" {
				return saveBundle(ctx, e, s, images, platform, publish, &out, &o)
			}
			if o.encrypt.set() {
				return usagef("encryption applies to imgx bundles (--format imgx)")
			}
			var res *archive.SaveResult
			err = publish(ctx, s.EstimateSize(ctx, images, nil), func(w io.Writer) (err error) {
				res, err = archive.Save(ctx, s, w, images, archive.SaveOptions{Format: archive.Format(o.format), Platform: platform, ExcludeExtras: o.noExtras})
				return err
			})
			switch { // with several -o, err may tell of some destinations failing: out reports each
			case out == nil:
				return err
			case o.json:
				return errors.Join(e.printJSON(saveArchiveDoc(o.format, images, res, out)), err)
			case o.output != "-" && !o.quiet:
				fmt.Fprintf(e.Stderr, "Wrote %s %s: %s, %s\n", o.format, outputName(o.outputs), count(len(images), "image"), humanSize(out.Size))
			}
			printDestinations(e, out, o.quiet)
			return err
		}),
	})
}
