package main

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"
)

func init() {
	var o struct{ json bool }
	register(&Command{
		Name:  "check",
		Usage: "[flags]",
		Short: "Verify every blob and reference in the store",
		Long: `Check re-hashes every blob in the store and follows every image from index.json down
to its layers: each blob must exist, have the size its descriptor says and hash to its
name; manifests and indexes must parse. It lists every problem and exits 1 if there is
any. Unused blobs and leftovers of interrupted writes are reported but are not problems
('imgx prune' removes them).`,
		Example: `  imgx check
  imgx check --json`,
		Flags: func(fs *pflag.FlagSet) { fs.BoolVar(&o.json, "json", false, "print JSON") },
		Args:  exactArgs(0, "no arguments"),
		Run: jsonRun(&o.json, func(ctx context.Context, e *Env, args []string) error {
			s, err := e.Store()
			if err != nil {
				return err
			}
			rep, err := s.Check(ctx)
			if err != nil {
				return err
			}
			if o.json {
				if err := e.printJSON(checkDoc(rep)); err != nil {
					return err
				}
			} else {
				for _, p := range rep.Problems {
					fmt.Fprintf(e.Stdout, "problem: %s\n", p.Error())
				}
				fmt.Fprintf(e.Stdout, "checked %s, %s (%s): %s, %s, %s\n",
					count(rep.Images, "image"), count(rep.Blobs, "blob"), humanSize(rep.Bytes), count(len(rep.Problems), "problem"),
					count(rep.Unreachable, "unused blob"), count(rep.Leftovers, "leftover"))
			}
			if !rep.OK() {
				return fmt.Errorf("store %s has %s", s.Root(), count(len(rep.Problems), "problem"))
			}
			return nil
		}),
	})
}
