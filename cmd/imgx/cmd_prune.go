package main

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"
)

func init() {
	var o struct{ json bool }
	register(&Command{
		Name:  "prune",
		Usage: "[flags]",
		Short: "Remove blobs no image uses and leftovers of interrupted writes",
		Long: `Prune removes every blob that no image in index.json reaches, and the staged and
temporary files left by an interrupted load or import, and reports the bytes freed. It
waits for nothing: if a load or import is running it fails with "store is busy".`,
		Example: `  imgx prune`,
		Flags:   func(fs *pflag.FlagSet) { fs.BoolVar(&o.json, "json", false, "print JSON") },
		Args:    exactArgs(0, "no arguments"),
		Run: func(ctx context.Context, e *Env, args []string) error {
			s, err := e.Store()
			if err != nil {
				return err
			}
			rep, err := s.Prune(ctx)
			if err != nil {
				return err
			}
			if o.json {
				return writeJSON(e.Stdout, rep)
			}
			for _, d := range rep.Blobs {
				fmt.Fprintf(e.Stdout, "deleted: %s\n", d)
			}
			fmt.Fprintf(e.Stdout, "Total reclaimed space: %s (%d blobs, %d leftovers)\n", humanSize(rep.BytesFreed), len(rep.Blobs), rep.Leftovers)
			return nil
		},
	})
}
