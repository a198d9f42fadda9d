package main

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/imgx/imgx/image/rootfs"
)

func init() {
	var o struct{ platform string }
	register(&Command{
		Name:  "unpack",
		Usage: "[flags] REF DIR",
		Short: "Extract an image's flattened filesystem into a directory",
		Long: `Unpack extracts the image's filesystem (all layers applied) into DIR. Nothing may land
outside DIR: entries with '..', absolute names, and paths through symlinks that point
outside are refused. Ownership is restored when running as root.`,
		Example: `  imgx unpack example/app:2 ./rootfs`,
		Flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&o.platform, "platform", "", "platform to unpack from a multi-platform image")
		},
		Args: exactArgs(2, "REF and DIR"),
		Run: func(ctx context.Context, e *Env, args []string) error {
			s, im, err := openImage(ctx, e, args[0], o.platform)
			if err != nil {
				return err
			}
			if err := rootfs.Unpack(ctx, im.Layers(s), args[1]); err != nil {
				return fmt.Errorf("unpack %s into %s: %w", args[0], args[1], err)
			}
			return nil
		},
	})
}
