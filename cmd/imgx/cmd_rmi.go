package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/imgx/imgx/store"
)

func init() {
	var o struct{ noPrune, json bool }
	register(&Command{
		Name:  "rmi",
		Usage: "[flags] REF...",
		Short: "Remove images",
		Long: `Rmi removes the tags it is given, and nothing else: another tag of the same image stays.
Given an image ID or digest it removes the image with all its tags. It prints one line
for each tag removed. Then it frees the blobs no remaining image uses (unless --no-prune).
A REF that cannot be resolved is reported and the others are still removed; the command
then fails at the end.

Freeing blobs needs the whole picture: if index.json, or a manifest or index of an image
that stays, cannot be read (missing, corrupted, not parseable), rmi changes nothing and
fails naming the image and blob. Removing the broken image itself works. --no-prune
removes the tags without reading any image.`,
		Example: `  imgx rmi example/hello:1.0
  imgx rmi 3f2a9c1b4d5e`,
		Flags: func(fs *pflag.FlagSet) {
			fs.BoolVar(&o.noPrune, "no-prune", false, "keep the blobs of removed images until 'imgx prune'")
			fs.BoolVar(&o.json, "json", false, "print JSON")
		},
		Args: minArgs(1, "at least one REF"),
		Run: jsonRun(&o.json, func(ctx context.Context, e *Env, args []string) error {
			s, err := e.Store()
			if err != nil {
				return err
			}
			var errs []error
			var targets []store.Resolved
			for _, a := range args {
				r, err := resolve(ctx, s, a)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				targets = append(targets, r)
			}
			if len(targets) == 0 {
				if o.json {
					if jerr := e.printJSON(rmiDoc(nil, nil, nil, errs)); jerr != nil {
						return jerr
					}
				}
				return errors.Join(errs...)
			}
			match := func(en store.Entry) bool {
				for _, t := range targets {
					if t.Matches(en) {
						return true
					}
				}
				return false
			}
			// Deleted: names an image by its ID, as listings and docker rmi do; read now,
			// while its manifest is still there.
			ids := map[int]string{}
			for i, t := range targets {
				if id, err := s.ImageID(ctx, t.Desc); err == nil {
					ids[i] = id.String()
				} else {
					ids[i] = t.Desc.Digest.String()
				}
			}
			removed, rep, err := s.Remove(ctx, match, !o.noPrune)
			pruned := !o.noPrune && err == nil
			if errors.Is(err, store.ErrBusy) {
				e.Warnf("blobs not freed: %v; run 'imgx prune' later", err)
				removed, _, err = s.Remove(ctx, match, false)
			}
			if errors.Is(err, store.ErrIncomplete) {
				return errors.Join(append(errs, withHint(err,
					"nothing was removed; 'imgx check' lists the problems, 'imgx rmi --no-prune' removes the tags only"))...)
			}
			if err != nil {
				return errors.Join(append(errs, err)...)
			}
			var untagged, deleted, lines []string // lines: the human output, in order
			printed := make([]bool, len(removed))
			for ti, t := range targets {
				for i, en := range removed {
					if printed[i] || !t.Matches(en) {
						continue
					}
					printed[i] = true
					if !en.Ref.IsZero() || en.Name != "" {
						untagged = append(untagged, en.Display())
						lines = append(lines, "Untagged: "+en.Display())
					}
				}
				if t.Ref.IsZero() && t.Name == "" {
					deleted = append(deleted, t.Desc.Digest.String())
					lines = append(lines, "Deleted: "+ids[ti])
				}
			}
			if o.json {
				var freed *store.PruneReport
				if pruned {
					freed = &rep
				}
				if jerr := e.printJSON(rmiDoc(untagged, deleted, freed, errs)); jerr != nil {
					return jerr
				}
				return errors.Join(errs...)
			}
			for _, l := range lines {
				fmt.Fprintln(e.Stdout, l)
			}
			if pruned {
				warnMissing(e, rep)
				if rep.BytesFreed > 0 {
					fmt.Fprintf(e.Stdout, "Freed %s\n", humanSize(rep.BytesFreed))
				}
			}
			return errors.Join(errs...)
		}),
	})
}
