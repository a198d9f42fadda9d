package main

import (
	"context"
	"io"
	"os"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/imgx/imgx/archive"
	"github.com/imgx/imgx/image"
	"github.com/imgx/imgx/store"
)

// Hooks for the imgx bundle format (--format imgx, the default), set in init by the
// bundle command's own file. saveBundleFlags adds its flags (signing key, compression,
// delta base); saveBundle writes the bundle of req.Images to req.W.
var (
	saveBundle      func(ctx context.Context, e *Env, s *store.Store, req *saveRequest) error
	saveBundleFlags func(fs *pflag.FlagSet)
)

// saveRequest is what `imgx save` hands to a writer.
type saveRequest struct {
	Images []store.Resolved
	Output string    // the -o value: a file name, or "-" for standard output
	W      io.Writer // a temporary file renamed to Output on success, or standard output
	JSON   bool
}

func init() {
	var o struct {
		format, output, platform string
		json                     bool
	}
	register(&Command{
		Name:  "save",
		Usage: "[--format imgx|docker-archive|oci-archive] [-o FILE|-] IMAGE...",
		Short: "Write images to an archive or bundle",
		Long: `Save writes one or more images to a single file or to standard output. Blobs that the
images share are written once.

  --format imgx            an imgx bundle (signed, deduplicated; see docs/bundle-format.md)
  --format docker-archive  for 'docker load' (all versions), 'podman load', skopeo and crane;
                           also an OCI layout, so digests survive a Docker 25+ load
  --format oci-archive     for 'skopeo copy oci-archive:…', buildah, podman; digests preserved

docker-archive keeps the image ID (config digest); docs/archive-formats.md describes both
layouts. The output file appears only when it is complete.`,
		Example: `  imgx save --format docker-archive -o images.tar app:1 web:2   # then: docker load -i images.tar
  imgx save --format oci-archive app:1 > app.oci.tar`,
		Flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&o.format, "format", "imgx", "output format: imgx, docker-archive or oci-archive")
			fs.StringVarP(&o.output, "output", "o", "-", "output file, or - for standard output")
			fs.StringVar(&o.platform, "platform", "", "docker-archive: platform of a multi-platform image to name in manifest.json (default: this machine's)")
			fs.BoolVar(&o.json, "json", false, "print a JSON summary (with -o FILE)")
			if saveBundleFlags != nil {
				saveBundleFlags(fs)
			}
		},
		Args: minArgs(1, "at least one IMAGE"),
		Run: func(ctx context.Context, e *Env, args []string) error {
			s, err := e.Store()
			if err != nil {
				return err
			}
			var images []store.Resolved
			for _, a := range args {
				r, err := resolve(ctx, s, a)
				if err != nil {
					return err
				}
				images = append(images, r)
			}
			var write func(w io.Writer) (any, error)
			switch o.format {
			case "imgx":
				if saveBundle == nil {
					return withHint(usagef("save: format imgx is not available in this build"), "use --format docker-archive or --format oci-archive")
				}
			case string(archive.FormatDockerArchive), string(archive.FormatOCIArchive):
				opts := archive.SaveOptions{Format: archive.Format(o.format)}
				if o.platform != "" {
					p, err := image.ParsePlatform(o.platform)
					if err != nil {
						return usagef("save: --platform: %v", err)
					}
					opts.Platform = &p
				}
				write = func(w io.Writer) (any, error) { return archive.Save(ctx, s, w, images, opts) }
			default:
				return usagef("save: unknown format %q (want imgx, docker-archive or oci-archive)", o.format)
			}
			return saveOutput(e, o.output, func(w io.Writer) error {
				if write == nil {
					return saveBundle(ctx, e, s, &saveRequest{Images: images, Output: o.output, W: w, JSON: o.json})
				}
				res, err := write(w)
				if err == nil && o.json && o.output != "-" {
					err = writeJSON(e.Stdout, res)
				}
				return err
			})
		},
	})
}

// saveOutput refuses to write an archive to a terminal, then writes it with writeOutput
// (a file appears only when complete).
func saveOutput(e *Env, path string, fn func(w io.Writer) error) error {
	if path == "-" || path == "" {
		if f, ok := e.Stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			return withHint(usagef("save: refusing to write an archive to a terminal"), "use -o FILE or redirect standard output")
		}
	}
	return writeOutput(e, path, fn)
}
