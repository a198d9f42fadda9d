package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/imgx/imgx/image/rootfs"
)

func init() {
	var o struct {
		platform string
		opts     rootfs.UnpackOptions
	}
	register(&Command{
		Name:  "unpack",
		Usage: "[flags] REF DIR",
		Short: "Extract an image's flattened filesystem into a directory",
		Long: `Unpack extracts the image's filesystem (all layers applied) into DIR. Nothing lands
outside DIR: absolute names are extracted inside DIR (the leading / is stripped, as tar
does), names that climb above the root with '..' are refused, and no symlink is
followed, whether the image made it or it was in DIR before.

Run as root, unpack keeps what the image says, as tar and umoci do: owners, character
and block devices, FIFOs, setuid and setgid bits and file capabilities. --no-devices
leaves out device nodes and FIFOs, --no-setuid clears setuid and setgid bits and leaves
out file capabilities (security.capability): use both to look at an image you do not
trust. Not as root, owners are not restored and devices are skipped.

DIR must be empty or new, so that two images are never mixed by mistake; --force writes
among the files already there.`,
		Example: `  imgx unpack example/app:2 ./rootfs
  imgx unpack --no-devices --no-setuid untrusted/app:1 ./look`,
		Flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&o.platform, "platform", "", "platform to unpack from a multi-platform image")
			fs.BoolVar(&o.opts.NoDevices, "no-devices", false, "leave out character and block devices and FIFOs")
			fs.BoolVar(&o.opts.NoSetuid, "no-setuid", false, "clear setuid and setgid bits, leave out file capabilities")
			fs.BoolVar(&o.opts.Merge, "force", false, "unpack into a DIR that is not empty, among its files")
		},
		Args: exactArgs(2, "REF and DIR"),
		Run: func(ctx context.Context, e *Env, args []string) error {
			s, im, err := openImage(ctx, e, args[0], o.platform)
			if err != nil {
				return err
			}
			if err := rootfs.UnpackWith(ctx, im.Layers(s), args[1], o.opts); err != nil {
				if errors.Is(err, rootfs.ErrNotEmpty) {
					return withHint(fmt.Errorf("unpack %s into %s: %w", args[0], args[1], err), "give an empty or new DIR, or --force to write among its files")
				}
				return fmt.Errorf("unpack %s into %s: %w", args[0], args[1], err)
			}
			return nil
		},
	})
}
