package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/imgx/imgx/ingest"
	"github.com/imgx/imgx/transport/dial"
)

func init() {
	var o struct {
		done, failed   string
		delete, strict bool
		json           bool
		policy         policyFlags
		decrypt        decryptFlags
		transport      transportFlags
	}
	register(&Command{
		Name:  "ingest",
		Usage: "[flags] LOCATION",
		Short: "Verify and load every complete bundle that arrived in a directory (for cron)",
		Long: `Ingest is the receiving side of a nightly sync. It lists the complete *.imgx bundles in
LOCATION (a local directory, or an sftp://, ftp:// or ftps:// URL; uploads in progress are
ignored), orders them so that each base bundle comes before the deltas built on it, and
for each one: verifies it (signatures per the trust policy, every digest) and loads it into
the store in one atomic step, then moves it to --done (or deletes it with --delete).

A bundle that fails goes to --failed with a NAME.reason file beside it; the others still
load. A name already taken there (or in --done) becomes NAME-2.imgx, NAME-3.imgx, … (a
split set is renamed whole), each with its own reason file. A delta whose base was never loaded waits for a later run (with --strict it fails
instead) and says which bundle it needs. A bundle already loaded (same manifest digest)
is skipped, so re-running after a crash loads nothing twice. One ingest runs per store at
a time: a second one exits at once with a message (exit 0). If the store's disk is too
full for a bundle, it waits.

--done and --failed must be on the same server as LOCATION (bundles are renamed, not copied).

Only imgx bundles are ingested, whatever their name. With any trust configured, a bundle
must be signed by enough trusted keys (--insecure-accept-unsigned loads it anyway, marked
"verified": false). Misconfigured trust ($IMGX_TRUST_DIR missing or without keys,
--threshold above the keys found, --require-signature without keys) stops the run with
exit 1 before any bundle is touched; cron's HOME may differ from yours, so name the key
with --key.

Exit codes: 0 nothing failed (some bundles may wait); 1 a bundle failed or LOCATION could
not be read; 2 usage error.`,
		Example: `  imgx ingest sftp://puller@gateway/incoming --done sftp://puller@gateway/done \
      --failed sftp://puller@gateway/quarantine --key /etc/imgx/release.pub
  imgx ingest /media/usb/incoming --done /media/usb/done --failed /media/usb/failed --json`,
		Flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&o.done, "done", "", "move loaded bundles to this directory (same server as LOCATION)")
			fs.StringVar(&o.failed, "failed", "", "move failed bundles here, each with a NAME.reason file")
			fs.BoolVar(&o.delete, "delete", false, "delete loaded bundles instead of moving them")
			fs.BoolVar(&o.strict, "strict", false, "fail a delta whose base is not loaded instead of letting it wait")
			fs.BoolVar(&o.json, "json", false, "print the report as JSON")
			o.policy.add(fs, true)
			o.policy.addImage(fs)
			o.decrypt.add(fs)
			o.transport.add(fs, false)
		},
		Args: exactArgs(1, "LOCATION"),
		Run: jsonRun(&o.json, func(ctx context.Context, e *Env, args []string) error {
			if o.delete && o.done != "" {
				return usagef("--delete and --done exclude each other")
			}
			root, rel, err := ingest.Locations(args[0], o.done, o.failed)
			if le := (*ingest.LocationError)(nil); errors.As(err, &le) {
				return usagef("%v", err)
			} else if err != nil {
				return err
			}
			s, err := e.CreateStore()
			if err != nil {
				return err
			}
			pol, ipol, ids, err := inputTrust(&o.policy, &o.decrypt)
			if err != nil {
				return err
			}
			opts, err := o.transport.options(e)
			if err != nil {
				return err
			}
			b, err := dial.OpenDir(ctx, root, opts)
			if err != nil {
				return fmt.Errorf("ingest %s: %w", args[0], err)
			}
			defer b.Close()
			rep, err := ingest.Run(ctx, ingest.Options{
				Store: s, Policy: pol, Images: ipol, Source: b, Dir: rel[0], DoneDir: rel[1], FailedDir: rel[2],
				DoneName: o.done, FailedName: o.failed,
				Delete: o.delete, Strict: o.strict, Identities: ids,
			})
			if errors.Is(err, ingest.ErrLocked) {
				fmt.Fprintf(e.Stderr, "imgx: %v; nothing to do\n", err)
				return nil
			}
			if rep == nil {
				return err
			}
			if o.json {
				if jerr := e.printJSON(ingestJSON{doc, rep}); jerr != nil {
					return jerr
				}
			} else {
				printIngest(e, rep)
			}
			if err != nil {
				return err
			}
			if rep.Failed > 0 {
				return fmt.Errorf("ingest %s: %s failed", args[0], count(rep.Failed, "bundle"))
			}
			return nil
		}),
	})
}
