package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/imgx/imgx/internal/safetext"
)

type historyRow struct {
	Created    time.Time `json:"created"`
	CreatedBy  string    `json:"created_by"`
	Comment    string    `json:"comment,omitempty"`
	Size       int64     `json:"size"`
	EmptyLayer bool      `json:"empty_layer"`
	Layer      string    `json:"layer,omitempty"`
}

func init() {
	var o struct {
		json    bool
		noTrunc bool
	}
	register(&Command{
		Name:  "history",
		Usage: "[flags] REF",
		Short: "Show the history of an image",
		Long: `History prints one row per history entry of the image config, newest first, like
'docker history': when it was created, by what, the size of the layer it made, and
whether it made no layer (empty layer).`,
		Example: `  imgx history example/hello:1.0
  imgx history --json app:2`,
		Flags: func(fs *pflag.FlagSet) {
			fs.BoolVar(&o.json, "json", false, "print JSON")
			fs.BoolVar(&o.noTrunc, "no-trunc", false, "do not truncate CREATED BY")
		},
		Args: exactArgs(1, "REF"),
		Run: jsonRun(&o.json, func(ctx context.Context, e *Env, args []string) error {
			s, err := e.Store()
			if err != nil {
				return err
			}
			im, _, err := loadImage(ctx, s, args[0], nil)
			if err != nil {
				return err
			}
			rows := []historyRow{}
			li := 0
			for _, h := range im.Config.History {
				r := historyRow{Created: h.Created.Time, CreatedBy: h.CreatedBy, Comment: h.Comment, EmptyLayer: h.EmptyLayer}
				if !h.EmptyLayer && li < len(im.Manifest.Layers) {
					r.Size = im.Manifest.Layers[li].Size
					r.Layer = im.Manifest.Layers[li].Digest.String()
					li++
				}
				rows = append(rows, r)
			}
			for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
				rows[i], rows[j] = rows[j], rows[i]
			}
			if o.json {
				return e.printJSON(historyJSON{doc, nonNil(rows)})
			}
			tw := newTable(e.Stdout)
			fmt.Fprintln(tw, "CREATED\tCREATED BY\tSIZE\tCOMMENT")
			now := time.Now()
			for _, r := range rows {
				by := strings.ReplaceAll(r.CreatedBy, "\t", " ")
				if !o.noTrunc && len(by) > 45 {
					by = by[:44] + "…"
				}
				size := humanSize(r.Size)
				if r.EmptyLayer {
					size = "0B (empty layer)"
				}
				// History comes from the image's config: whoever built it chose it.
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", humanAgo(r.Created, now), safetext.Line(by), size, safetext.Line(r.Comment))
			}
			return tw.Flush()
		}),
	})
}
