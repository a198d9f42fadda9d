package main

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/imgx/imgx/store"
)

func init() {
	var o struct{ json, untagged bool }
	register(&Command{
		Name:  "prune",
		Usage: "[flags]",
		Short: "Remove blobs no image uses and leftovers of interrupted writes",
		Long: `Prune removes every blob that no image in index.json reaches, and the staged and
temporary files left by an interrupted load or import, and reports the bytes freed. It
waits for nothing: if a load or import is running it fails with "store is busy".

It deletes nothing unless it can read every image completely: if index.json, or a
manifest or index an image reaches, is unreadable, corrupted or does not parse, what
that image uses is unknown, so prune fails naming the image and blob ('imgx check'
lists every problem; 'imgx rmi' of the broken image, or a re-load, repairs it). A
missing config or layer hides nothing: prune goes on and warns about it.

--untagged first removes the images that have no name ('<none>' in 'imgx images': what
'docker image prune' calls dangling images), then the blobs only they used, in the same
step and under the same rule (nothing is removed if an image that stays cannot be read).
It is not the default because an image pulled by digest is untagged on purpose.`,
		Example: `  imgx prune
  imgx prune --untagged`,
		Flags: func(fs *pflag.FlagSet) {
			fs.BoolVar(&o.json, "json", false, "print JSON")
			fs.BoolVar(&o.untagged, "untagged", false, "also remove images without a name (dangling images)")
		},
		Args: exactArgs(0, "no arguments"),
		Run: jsonRun(&o.json, func(ctx context.Context, e *Env, args []string) error {
			s, err := e.Store()
			if err != nil {
				return err
			}
			rep, err := s.PruneWith(ctx, store.PruneOptions{Untagged: o.untagged})
			if err != nil {
				return err
			}
			if o.json {
				return e.printJSON(pruneDoc(rep))
			}
			warnMissing(e, rep)
			for _, im := range rep.Images {
				id := store.ShortID(im.ID)
				if im.ID == "" {
					id = im.Digest.String() // its manifest was unreadable: no ID to show
				}
				fmt.Fprintf(e.Stdout, "Deleted image: %s\n", id)
			}
			for _, d := range rep.Blobs {
				fmt.Fprintf(e.Stdout, "deleted: %s\n", d)
			}
			fmt.Fprintf(e.Stdout, "Total reclaimed space: %s (%s, %s)\n", humanSize(rep.BytesFreed), count(len(rep.Blobs), "blob"), count(rep.Leftovers, "leftover"))
			return nil
		}),
	})
}

// warnMissing tells about blobs images use that are missing: prune could still run (a
// missing config or layer hides nothing), but those images are broken.
func warnMissing(e *Env, rep store.PruneReport) {
	for _, d := range rep.Missing {
		e.Warnf("blob %s is missing but an image uses it; 'imgx check' names the image", d)
	}
}
