package main

import (
	"context"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/spf13/pflag"

	"github.com/imgx/imgx/bundle"
	"github.com/imgx/imgx/internal/safetext"
	"github.com/imgx/imgx/seal"
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
			rows := []lsRow{}
			err = b.List(ctx, "", func(fi transport.FileInfo) error {
				if !o.all && (fi.IsDir || !strings.HasSuffix(fi.Name, ".imgx")) {
					return nil
				}
				rows = append(rows, lsRow{Name: fi.Name, Size: fi.Size, Modified: fi.ModTime, Dir: fi.IsDir})
				return nil
			})
			if err != nil {
				return fmt.Errorf("ls %s: %w", args[0], err)
			}
			sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
			if o.long {
				for i := range rows {
					if !rows[i].Dir {
						describeBundle(ctx, b, &rows[i], ids)
					}
				}
			}
			if o.json {
				return e.printJSON(lsDoc(rows))
			}
			tw := newTable(e.Stdout)
			if o.long {
				fmt.Fprintln(tw, "NAME\tSIZE\tMODIFIED\tSEQ\tMANIFEST\tBASE\tSIGNED BY (UNCHECKED)\tIMAGES")
			} else {
				fmt.Fprintln(tw, "NAME\tSIZE\tMODIFIED")
			}
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
					man = shortID(r.Manifest)
					signed = "no"
				}
				if r.base != nil {
					base = shortID(r.base.Digest.String())
					if r.base.Name != "" {
						base = r.base.Name
					}
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
				imgs = safetext.Line(imgs)
				// The base name is the sender's: escaped like the file names.
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, humanSize(r.Size), mod, seq, man, safetext.Quote(base), signed, imgs)
			}
			return tw.Flush()
		}),
	})
}

// describeBundle reads the head of a bundle (a few KiB) for ls --long.
func describeBundle(ctx context.Context, b transport.Backend, r *lsRow, ids []age.Identity) {
	rc, err := b.Open(ctx, path.Clean(r.Name), 0)
	if err != nil {
		r.Error, r.err = err.Error(), err
		return
	}
	defer rc.Close()
	pr, enc, err := seal.MaybeOpen(rc, ids)
	r.Encrypted = enc
	if err != nil {
		r.Error, r.err = "encrypted: "+encryptedReason(err), err
		return
	}
	h, err := bundle.ReadHeadAll(io.LimitReader(pr, 64<<20))
	if err != nil {
		r.Error, r.err = "not a bundle", err
		return
	}
	m := h.Manifest
	r.Manifest = digestOf(h.ManifestBytes)
	r.SignedBy = h.SignerIDs
	seq := m.Sequence
	r.Sequence = &seq
	if m.Base != nil {
		r.Base = m.Base.String()
		r.base = baseOf(m.Base)
	}
	for _, im := range m.Images {
		if t := im.Tag(); t != "" { // the tag a load applies
			r.Images = append(r.Images, t)
		} else {
			r.Images = append(r.Images, im.Descriptor.Digest.String())
		}
	}
}
