package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/pflag"

	"github.com/imgx/imgx/image"
	"github.com/imgx/imgx/image/change"
	"github.com/imgx/imgx/ref"
	"github.com/imgx/imgx/store"
)

func init() {
	var o struct {
		changes  []string
		message  string
		platform string
		compress string
	}
	register(&Command{
		Name:  "import",
		Usage: "[flags] FILE|- NAME[:TAG]",
		Short: "Create a one-layer image from a filesystem tar",
		Long: `Import reads a filesystem tar (plain, gzip, zstd, xz or bzip2, detected by magic) and
stores it as a one-layer image, like 'docker import'. --change applies Dockerfile
instructions to the image config: CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL,
ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR. Entries with '..' or absolute names are refused.`,
		Example: `  imgx import --change 'ENTRYPOINT ["/hello"]' static_hello.tar example/hello:1.0
  tar -C rootfs -c . | imgx import --change 'ENV PATH=/bin' -m 'nightly rootfs' - app:nightly`,
		Flags: func(fs *pflag.FlagSet) {
			fs.StringArrayVarP(&o.changes, "change", "c", nil, "apply a Dockerfile instruction to the config (repeatable)")
			fs.StringVarP(&o.message, "message", "m", "", "history comment for the new image")
			fs.StringVar(&o.platform, "platform", "", "image platform OS/ARCH[/VARIANT] (default linux/"+image.DefaultPlatform().Architecture+")")
			fs.Var(newEnum(&o.compress, "gzip", "gzip", "zstd", "none"), "compress", "layer compression: gzip, zstd or none")
		},
		Args: exactArgs(2, "FILE|- and NAME[:TAG]"),
		Run: func(ctx context.Context, e *Env, args []string) error {
			target, err := ref.ParseNamed(args[1])
			if err != nil {
				return usagef("%v", err)
			}
			opts := image.ImportOptions{Message: o.message, Source: args[0]}
			if v := os.Getenv("SOURCE_DATE_EPOCH"); v != "" {
				// The reproducible-builds convention: a fixed creation time makes the
				// same tar give the same image ID (and lets tests pin whole outputs).
				sec, perr := strconv.ParseInt(v, 10, 64)
				if perr != nil {
					return usagef("SOURCE_DATE_EPOCH=%q: want seconds since 1970", v)
				}
				opts.Now = func() time.Time { return time.Unix(sec, 0) }
			}
			if opts.Compression, err = image.ParseCompression(o.compress); err != nil {
				return usagef("%v", err)
			}
			if o.platform != "" {
				if opts.Platform, err = image.ParsePlatform(o.platform); err != nil {
					return usagef("%v", err)
				}
			}
			if len(o.changes) > 0 {
				if opts.Changes, err = change.Compile(o.changes); err != nil {
					return usageError{err.Error()}
				}
			}
			var in io.Reader = e.Stdin
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return fmt.Errorf("import: %w", err)
				}
				defer f.Close()
				in = f
			}
			s, err := e.CreateStore()
			if err != nil {
				return err
			}
			desc, err := s.Add(ctx, target, func(tx *store.Tx) (ocispec.Descriptor, error) {
				return image.Import(ctx, tx, in, opts)
			})
			if err != nil {
				return fmt.Errorf("import %s: %w", args[0], err)
			}
			return printImageID(ctx, e, s, desc)
		},
	})
}
