package main

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/imgx/imgx/image/rootfs"
	"github.com/imgx/imgx/internal/safetext"
)

func init() {
	var o struct {
		layer int
		json  bool
	}
	register(&Command{
		Name:  "diff",
		Usage: "[flags] A B | REF --layer N",
		Short: "List files added, changed and deleted between two images, or by one layer",
		Long: `Diff compares the filesystems of two images and prints one line per difference, like
'docker container diff': "A path" added, "C path" changed (type, mode, owner, mtime, size,
content, link target or xattrs), "D path" deleted. With --layer N (0 is the bottom layer)
it shows what that layer of REF adds, changes and deletes over the layers below it.`,
		Example: `  imgx diff example/app:1 example/app:2
  imgx diff example/app:2 --layer 1
  imgx diff --json app:1 app:2`,
		Flags: func(fs *pflag.FlagSet) {
			fs.IntVar(&o.layer, "layer", -1, "show the changes made by layer N of REF")
			fs.BoolVar(&o.json, "json", false, "print JSON")
		},
		Run: jsonRun(&o.json, func(ctx context.Context, e *Env, args []string) error {
			if (o.layer >= 0) != (len(args) == 1) || len(args) == 0 || len(args) > 2 {
				return usagef("give two images, or one image and --layer N")
			}
			s, err := e.Store()
			if err != nil {
				return err
			}
			a, _, err := loadImage(ctx, s, args[0], nil)
			if err != nil {
				return err
			}
			var changes []rootfs.Change
			if o.layer >= 0 {
				changes, err = rootfs.LayerDiff(ctx, a.Layers(s), o.layer)
			} else {
				b, _, lerr := loadImage(ctx, s, args[1], nil)
				if lerr != nil {
					return lerr
				}
				changes, err = rootfs.Diff(ctx, a.Layers(s), b.Layers(s))
			}
			if err != nil {
				return fmt.Errorf("diff: %w", err)
			}
			if o.json {
				rows := []diffRow{}
				for _, c := range changes {
					rows = append(rows, diffRow{c.Kind.String(), c.Path})
				}
				return e.printJSON(diffJSON{doc, rows})
			}
			for _, c := range changes {
				fmt.Fprintln(e.Stdout, safetext.Line(fmt.Sprint(c))) // paths come from layer tars
			}
			return nil
		}),
	})
}
