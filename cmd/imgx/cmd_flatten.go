package main

import (
	"context"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/pflag"

	"github.com/imgx/imgx/image"
	"github.com/imgx/imgx/ref"
	"github.com/imgx/imgx/store"
)

func init() {
	var o struct{ platform, compress string }
	register(&Command{
		Name:  "flatten",
		Usage: "[flags] REF NEWREF",
		Short: "Make a one-layer copy of an image",
		Long: `Flatten merges an image's layers into one, applying whiteouts (deleted files and opaque
directories), and tags the result NEWREF. The config (Env, Entrypoint, Cmd, WorkingDir,
User, ExposedPorts, Volumes, Labels, OnBuild) is kept; the history becomes one entry
naming the source digest. Hard links, symlinks, modes, ownership, xattrs and timestamps
survive. Flattening makes one image smaller but loses layer sharing with other images.`,
		Example: `  imgx flatten example/app:2 example/app:2-flat`,
		Flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&o.platform, "platform", "", "platform to flatten from a multi-platform image")
			fs.Var(newEnum(&o.compress, "gzip", "gzip", "zstd", "none"), "compress", "layer compression: gzip, zstd or none")
		},
		Args: exactArgs(2, "REF and NEWREF"),
		Run: func(ctx context.Context, e *Env, args []string) error {
			target, err := ref.ParseNamed(args[1])
			if err != nil {
				return usagef("%v", err)
			}
			c, err := image.ParseCompression(o.compress)
			if err != nil {
				return usagef("%v", err)
			}
			s, im, err := openImage(ctx, e, args[0], o.platform)
			if err != nil {
				return err
			}
			desc, err := s.Add(ctx, target, func(tx *store.Tx) (ocispec.Descriptor, error) {
				return image.Flatten(ctx, s, tx, im, image.FlattenOptions{Compression: c})
			})
			if err != nil {
				return err
			}
			return printImageID(ctx, e, s, desc)
		},
	})
}

func platformFlag(s string) (*ocispec.Platform, error) {
	if s == "" {
		return nil, nil
	}
	p, err := image.ParsePlatform(s)
	if err != nil {
		return nil, usagef("--platform: %v", err)
	}
	return &p, nil
}
