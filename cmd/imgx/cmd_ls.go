package main

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/imgx/imgx/ingest"
	"github.com/imgx/imgx/internal/safetext"
	"github.com/imgx/imgx/transport"
	"github.com/imgx/imgx/transport/dial"
)

type lsRow struct {
	Name     string    `json:"name"`
	Size     int64     `json:"size"`
	Modified time.Time `json:"modified,omitempty"`
	Dir      bool      `json:"dir,omitempty"`
	// With --long, for imgx bundles:
	Manifest string    `json:"manifest,omitempty"`
	Sequence *int      `json:"sequence,omitempty"`
	Base     string    `json:"base,omitempty"`
	SignedBy []string  `json:"signed_by,omitempty"` // key IDs the signature entries name: unchecked
	base     *baseJSON // Base, structured for --json
	err      error     // Error, classified for --json
	Images   []string  `json:"images,omitempty"`
	Error    string    `json:"error,omitempty"`
	// Encrypted: an age-encrypted file (with --long); without a matching identity only
	// its name and size are known.
	Encrypted bool `json:"encrypted,omitempty"`
}

func init() {
	var o struct {
		long, json, all bool
		decrypt         decryptFlags
		transport       transportFlags
	}
	register(&Command{
		Name:  "ls",
		Usage: "[flags] LOCATION",
		Short: "List the bundles in a directory, locally or on a server",
		Long: `Ls lists the complete files in a directory: a local path (a USB stick), or an sftp://,
ftp:// or ftps:// URL ending in /. Uploads still in progress (temporary names) are never
shown, so a poller only sees bundles it can read. By default only *.imgx files are listed
(--all lists every file). --long also reads the head of each bundle (a few KiB) to show its
manifest digest, sequence, delta base and images.`,
		Example: `  imgx ls sftp://deploy@gateway/incoming/
  imgx ls --long /media/usb/
  imgx ls --json ftp://depot.lan/pub/incoming/`,
		Flags: func(fs *pflag.FlagSet) {
			fs.BoolVarP(&o.long, "long", "l", false, "read each bundle's head: digest, sequence, base, images")
			fs.BoolVarP(&o.all, "all", "a", false, "list every file, not only *.imgx")
			fs.BoolVar(&o.json, "json", false, "print JSON")
			o.decrypt.add(fs)
			o.transport.add(fs, false)
		},
		Args: exactArgs(1, "LOCATION"),
		Run: jsonRun(&o.json, func(ctx context.Context, e *Env, args []string) error {
			loc, err := transport.ParseLocation(args[0])
			if err != nil {
				return usagef("%v", err)
			}
			if loc.Scheme == transport.Stdio {
				return usagef("ls needs a directory, not -")
			}
			ids, err := o.decrypt.identities()
			if err != nil {
				return err
			}
			opts, err := o.transport.options(e)
			if err != nil {
				return err
			}
			b, err := dial.OpenDir(ctx, loc, opts)
			if err != nil {
				return fmt.Errorf("ls %s: %w", args[0], err)
			}
			defer b.Close()
			entries, err := ingest.List(ctx, b, ingest.ListOptions{All: o.all, Describe: o.long, Identities: ids})
			if err != nil {
				return fmt.Errorf("ls %s: %w", args[0], err)
			}
			rows := lsRows(entries)
			if o.json {
				return e.printJSON(lsDoc(rows))
			}
			tw := newTable(e.Stdout)
			header := "NAME\tSIZE\tMODIFIED"
			if o.long {
				header += "\tSEQ\tMANIFEST\tBASE\tSIGNED BY (UNCHECKED)\tIMAGES"
			}
			fmt.Fprintln(tw, header)
			for _, r := range rows {
				mod := "-"
				if !r.Modified.IsZero() {
					mod = r.Modified.Local().Format("2006-01-02 15:04")
				}
				name := safetext.Quote(r.Name) // a carrier's file names are the sender's choice
				if r.Dir {
					name += "/"
				}
				if !o.long {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", name, humanSize(r.Size), mod)
					continue
				}
				seq, man, base, signed, imgs := "-", "-", "-", "-", strings.Join(r.Images, ",")
				if r.Sequence != nil {
					seq = fmt.Sprint(*r.Sequence)
				}
				if r.Manifest != "" {
					man, signed = shortID(r.Manifest), "no"
				}
				if r.base != nil {
					base = cmp.Or(r.base.Name, shortID(r.base.Digest.String()))
				}
				if len(r.SignedBy) > 0 {
					ids := make([]string, len(r.SignedBy))
					for i, id := range r.SignedBy {
						ids[i] = shortID(id)
					}
					signed = strings.Join(ids, ",")
				}
				if r.Error != "" {
					imgs = "(" + r.Error + ")"
				}
				// The base name and the images are the sender's: escaped like the file names.
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, humanSize(r.Size), mod, seq, man, safetext.Quote(base), signed, safetext.Line(imgs))
			}
			return tw.Flush()
		}),
	})
}
