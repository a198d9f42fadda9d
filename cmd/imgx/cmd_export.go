package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/imgx/imgx/image/rootfs"
	"github.com/imgx/imgx/internal/atomicfile"
)

func init() {
	var o struct{ output, platform string }
	register(&Command{
		Name:  "export",
		Usage: "[flags] REF",
		Short: "Write an image's flattened filesystem as a tar",
		Long: `Export writes the image's filesystem, with all layers applied (whiteouts removed), as
one tar stream, like 'docker export' of a container made from the image. The output file
appears only when complete.`,
		Example: `  imgx export example/app:2 -o rootfs.tar
  imgx export example/app:2 | tar -t | head`,
		Flags: func(fs *pflag.FlagSet) {
			fs.StringVarP(&o.output, "output", "o", "-", "write to FILE instead of stdout")
			fs.StringVar(&o.platform, "platform", "", "platform to export from a multi-platform image")
		},
		Args: exactArgs(1, "REF"),
		Run: func(ctx context.Context, e *Env, args []string) error {
			if err := refuseTerminal(e, o.output); err != nil {
				return err
			}
			s, im, err := openImage(ctx, e, args[0], o.platform)
			if err != nil {
				return err
			}
			return writeOutput(e, o.output, func(w io.Writer) error {
				if err := rootfs.Flatten(ctx, im.Layers(s), w); err != nil {
					return fmt.Errorf("export %s: %w", args[0], err)
				}
				return nil
			})
		},
	})
}

// writeOutput runs fill against stdout ("-") or a temporary file beside path that is
// synced and renamed into place only when fill succeeds: a failed export never leaves a
// partial file under the name the user asked for.
// refuseTerminal refuses to write a tar to standard output ("-") when it is a terminal,
// as save does: binary data there garbles the user's terminal and helps no one.
func refuseTerminal(e *Env, path string) error {
	if path != "-" && path != "" {
		return nil
	}
	if f, ok := e.Stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return withHint(usagef("refusing to write binary data to a terminal"), "use -o FILE or redirect standard output")
	}
	return nil
}

func writeOutput(e *Env, path string, fill func(w io.Writer) error) error {
	if path == "-" || path == "" {
		return fill(e.Stdout)
	}
	f, err := atomicfile.Create(path, 0o644)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := fill(f); err != nil {
		return err
	}
	return f.Commit()
}
