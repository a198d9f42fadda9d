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
		arts    bool
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
			fs.BoolVar(&o.arts, "artifacts", false, "add a column counting the signatures, attestations and SBOMs attached to each image")
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
			head := "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE"
			if o.arts {
				head += "\tARTIFACTS"
			}
			fmt.Fprintln(tw, head)
			now := time.Now()
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s", safetext.Quote(r.Repository), safetext.Quote(r.Tag), shortID(r.ID), humanAgo(r.Created, now), humanSize(r.Size))
				if o.arts {
					fmt.Fprintf(tw, "\t%s", artifactSummary(r.Artifacts))
				}
				fmt.Fprintln(tw)
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

// artifactSummary counts artifacts by kind: "2 signature, 1 attestation", or "-".
func artifactSummary(kinds []string) string {
	if len(kinds) == 0 {
		return "-"
	}
	n := map[string]int{}
	var order []string
	for _, k := range kinds {
		if n[k] == 0 {
			order = append(order, k)
		}
		n[k]++
	}
	parts := make([]string, len(order))
	for i, k := range order {
		parts[i] = fmt.Sprintf("%d %s", n[k], k)
	}
	return strings.Join(parts, ", ")
}
