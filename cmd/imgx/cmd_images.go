package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/imgx/imgx/image"
	"github.com/imgx/imgx/internal/safetext"
)

// imageRow is one line of the listing (its JSON is the "images" document's entry).
type imageRow = image.Summary

func init() {
	var o struct {
		filters []string
		quiet   bool
		json    bool
	}
	register(&Command{
		Name:  "images",
		Usage: "[flags]",
		Short: "List the images in the store",
		Long: `Images lists every image in the store with its repository, tag, image ID (the config
digest, as 'docker images' shows it), creation time and stored size. Images written into
the store by other OCI tools (skopeo, umoci) are listed too.`,
		Example: `  imgx images
  imgx images --filter label=org.opencontainers.image.version=1.2
  imgx images -q`,
		Flags: func(fs *pflag.FlagSet) {
			fs.StringArrayVarP(&o.filters, "filter", "f", nil, "show only images matching label=KEY or label=KEY=VALUE (repeatable)")
			fs.BoolVarP(&o.quiet, "quiet", "q", false, "print image IDs only")
			fs.BoolVar(&o.json, "json", false, "print JSON")
		},
		Args: exactArgs(0, "no arguments"),
		Run: jsonRun(&o.json, func(ctx context.Context, e *Env, args []string) error {
			s, err := e.Store()
			if err != nil {
				return err
			}
			rows, err := image.List(ctx, s, image.ListOptions{Filters: o.filters, Warn: func(name string, err error) {
				e.Warnf("image %s: %v (run 'imgx check')", name, err)
			}})
			if errors.Is(err, image.ErrFilter) {
				return usagef("%v", err)
			} else if err != nil {
				return err
			}
			switch {
			case o.json:
				return e.printJSON(imagesDoc(rows))
			case o.quiet:
				seen := map[string]bool{}
				for _, r := range rows {
					if !seen[r.ID] {
						seen[r.ID] = true
						fmt.Fprintln(e.Stdout, shortID(r.ID))
					}
				}
				return nil
			}
			tw := newTable(e.Stdout)
			fmt.Fprintln(tw, "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE")
			now := time.Now()
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", safetext.Quote(r.Repository), safetext.Quote(r.Tag), shortID(r.ID), humanAgo(r.Created, now), humanSize(r.Size))
			}
			return tw.Flush()
		}),
	})
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
