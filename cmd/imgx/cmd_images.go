package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/imgx/imgx/image"
	"github.com/imgx/imgx/internal/safetext"
	"github.com/imgx/imgx/store"
)

type imageRow struct {
	Repository string    `json:"repository"`
	Tag        string    `json:"tag"`
	ID         string    `json:"id"`
	Digest     string    `json:"digest"`
	Created    time.Time `json:"created"`
	Size       int64     `json:"size"`
	Platforms  []string  `json:"platforms"`
	Artifacts  []string  `json:"artifacts"` // kinds of the signatures, attestations, SBOMs attached
	labels     map[string]string
}

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
			rows, err := listImages(ctx, e, s)
			if err != nil {
				return err
			}
			rows, err = filterRows(rows, o.filters)
			if err != nil {
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

func listImages(ctx context.Context, e *Env, s *store.Store) ([]imageRow, error) {
	entries, err := s.Entries()
	if err != nil {
		return nil, err
	}
	rows := []imageRow{}
	for _, en := range entries {
		row := imageRow{Repository: "<none>", Tag: "<none>", Digest: en.Desc.Digest.String(), ID: en.Desc.Digest.String(), Artifacts: []string{}}
		if !en.Ref.IsZero() {
			row.Repository, row.Tag = en.Ref.FamiliarName(), en.Ref.Tag()
		} else if en.Name != "" {
			row.Repository = en.Name
		}
		im, err := image.Load(ctx, s, en.Desc, nil)
		if err != nil {
			e.Warnf("image %s: %v (run 'imgx check')", en.Display(), err)
			rows = append(rows, row)
			continue
		}
		if im.Index == nil {
			row.ID = im.ID().String()
		}
		row.Created = im.Config.Created.Time
		row.Size = im.Size()
		row.labels = im.Config.Config.Labels
		if im.Index != nil {
			if ix, err := loadIndex(ctx, s, en.Desc); err == nil {
				for _, m := range ix.Manifests {
					if m.Platform != nil {
						row.Platforms = append(row.Platforms, image.PlatformString(*m.Platform))
					}
				}
			}
		}
		if arts, err := s.ArtifactsOf(ctx, en.Desc); err == nil {
			for _, a := range arts {
				row.Artifacts = append(row.Artifacts, string(a.Kind))
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
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

func filterRows(rows []imageRow, filters []string) ([]imageRow, error) {
	for _, f := range filters {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k != "label" || v == "" {
			return nil, usagef("invalid filter %q: want label=KEY or label=KEY=VALUE", f)
		}
		lk, lv, hasVal := strings.Cut(v, "=")
		kept := rows[:0]
		for _, r := range rows {
			got, ok := r.labels[lk]
			if ok && (!hasVal || got == lv) {
				kept = append(kept, r)
			}
		}
		rows = kept
	}
	return rows, nil
}
