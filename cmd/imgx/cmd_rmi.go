package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/imgx/imgx/store"
)

func init() {
	var o struct{ noPrune bool }
	register(&Command{
		Name:  "rmi",
		Usage: "[flags] REF...",
		Short: "Remove images",
		Long: `Rmi removes a tag; given an image ID or digest it removes the image with all its tags.
Then it frees the blobs no remaining image uses (unless --no-prune). Removing continues
past an image that cannot be removed and the command fails at the end.`,
		Example: `  imgx rmi example/hello:1.0
  imgx rmi 3f2a9c1b4d5e`,
		Flags: func(fs *pflag.FlagSet) {
			fs.BoolVar(&o.noPrune, "no-prune", false, "keep the blobs of removed images until 'imgx prune'")
		},
		Args: minArgs(1, "at least one REF"),
		Run: func(ctx context.Context, e *Env, args []string) error {
			s, err := e.Store()
			if err != nil {
				return err
			}
			var errs []error
			for _, a := range args {
				r, err := resolve(ctx, s, a)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				if !r.Ref.IsZero() {
					if _, _, err := s.Untag(ctx, r.Ref); err != nil {
						errs = append(errs, err)
						continue
					}
					fmt.Fprintf(e.Stdout, "Untagged: %s\n", r.Ref.Familiar())
					continue
				}
				removed, err := s.RemoveImage(ctx, r.Desc.Digest)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				for _, en := range removed {
					if !en.Ref.IsZero() {
						fmt.Fprintf(e.Stdout, "Untagged: %s\n", en.Ref.Familiar())
					}
				}
				fmt.Fprintf(e.Stdout, "Deleted: %s\n", r.Desc.Digest)
			}
			if !o.noPrune {
				rep, err := s.Prune(ctx)
				switch {
				case errors.Is(err, store.ErrBusy):
					e.Warnf("blobs not freed: %v; run 'imgx prune' later", err)
				case err != nil:
					errs = append(errs, err)
				case rep.BytesFreed > 0:
					fmt.Fprintf(e.Stdout, "Freed %s\n", humanSize(rep.BytesFreed))
				}
			}
			return errors.Join(errs...)
		},
	})
}
