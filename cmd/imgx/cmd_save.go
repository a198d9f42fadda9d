package main

import (
	"context"
	"crypto"
	"fmt"
	"io"
	"path"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/pflag"

	"github.com/imgx/imgx/archive"
	"github.com/imgx/imgx/bundle"
	"github.com/imgx/imgx/image"
	"github.com/imgx/imgx/store"
	"github.com/imgx/imgx/syncstate"
)

type saveOptions struct {
	format, output, platform string
	json, verify, quiet      bool
	// imgx bundles
	signKeys   []string
	compress   string
	level      string
	since      string
	sinceState string
	always     bool
	flatten    bool
	noExtras   bool
	transport  transportFlags
}

func init() {
	var o saveOptions
	register(&Command{
		Name:  "save",
		Usage: "[flags] [-o LOCATION] IMAGE...",
		Short: "Write images to a signed bundle or an archive, locally or to a server",
		Long: `Save writes one or more images as one file. Blobs the images share are written once.

  --format imgx            an imgx bundle (default): signed, deduplicated, zstd; see
                           docs/bundle-format.md. Uncompressed (--compress none) it is also
                           an oci-archive that docker load and skopeo accept.
  --format docker-archive  for 'docker load' (all versions), 'podman load', skopeo and crane
  --format oci-archive     for 'skopeo copy oci-archive:…', buildah, podman

LOCATION is a path (a USB stick is a directory), - for standard output, or an
sftp://[user@]host[:port]/path, ftp://… or ftps://… URL. The file appears under its name
only when complete; an interrupted upload resumes when the same command runs again (imgx
bundles are reproducible: the same images and key give the same bytes).

Nightly deltas: --since BUNDLE leaves out the layers an earlier bundle (and its chain)
carried; --since-state FILE does the same from a small state file that save updates after
the bundle was published, so the sender needs no old bundles. If nothing changed since
the last bundle, save says so and writes nothing (exit 0) unless --always.`,
		Example: `  imgx save app:1.2 web:3 --sign-key release.key -o release-1.2.imgx
  imgx save app:1.2 --flatten --sign-key release.key -o /media/usb/app-flat.imgx
  imgx save app:1.2 --sign-key release.key -o sftp://deploy@gateway/incoming/app-1.2.imgx
  imgx save --since-state /var/lib/imgx/sent.json --sign-key release.key app:stable \
      -o sftp://deploy@gateway/incoming/nightly-$(date +%Y%m%d).imgx
  imgx save --format docker-archive -o images.tar app:1 web:2     # then: docker load -i images.tar
  imgx save app:1.2 --sign-key release.key | ssh airgap imgx load --key release.pub`,
		Flags: func(fs *pflag.FlagSet) {
			fs.Var(newEnum(&o.format, "imgx", "imgx", string(archive.FormatDockerArchive), string(archive.FormatOCIArchive)), "format", "output format: imgx, docker-archive or oci-archive")
			fs.StringVarP(&o.output, "output", "o", "-", "where to write: a path, -, or an sftp://, ftp:// or ftps:// URL")
			fs.StringVar(&o.platform, "platform", "", "only this platform of multi-platform images (OS/ARCH[/VARIANT])")
			fs.BoolVar(&o.json, "json", false, "print a JSON summary")
			fs.BoolVarP(&o.quiet, "quiet", "q", false, "print only warnings and errors, no summary and no progress")
			fs.BoolVar(&o.verify, "verify", false, "read the written file back and check it end to end")
			fs.StringArrayVar(&o.signKeys, "sign-key", nil, "imgx: sign with this private key (repeatable; password from IMGX_PASSWORD or a prompt)")
			fs.Var(newEnum(&o.compress, "zstd", "zstd", "none"), "compress", "imgx: zstd or none")
			fs.Var(newEnum(&o.level, "default", string(bundle.LevelFastest), string(bundle.LevelDefault), string(bundle.LevelBetter)), "level", "imgx: zstd level: fastest, default or better")
			fs.BoolVar(&o.flatten, "flatten", false, "imgx: write each image as a one-layer image")
			fs.StringVar(&o.since, "since", "", "imgx: write a delta omitting layers this earlier bundle (and its chain) carried")
			fs.StringVar(&o.sinceState, "since-state", "", "imgx: write a delta against the state FILE and update it after publishing")
			fs.BoolVar(&o.always, "always", false, "with --since-state: write a bundle even if nothing changed")
			fs.BoolVar(&o.noExtras, "exclude-extras", false, "leave out the signatures, attestations and SBOMs attached to the images")
			o.transport.add(fs, true)
		},
		Args: minArgs(1, "at least one IMAGE"),
		Run: jsonRun(&o.json, func(ctx context.Context, e *Env, args []string) error {
			// Usage errors first: nothing is opened or printed for a call that cannot run.
			if o.quiet {
				o.transport.progress = "none"
			}
			if o.json && (o.output == "-" || o.output == "") {
				return withHint(usagef("save --json prints the summary on standard output, where the bundle would go"), "give -o FILE or a URL")
			}
			if o.since != "" && o.sinceState != "" {
				return usagef("--since and --since-state exclude each other")
			}
			if err := checkOutput(e, o.output, &o.transport); err != nil {
				return err
			}
			s, err := e.Store()
			if err != nil {
				return err
			}
			var images []store.Resolved
			for _, a := range args {
				r, err := resolve(ctx, s, a)
				if err != nil {
					return err
				}
				images = append(images, r)
			}
			var platform *ocispec.Platform
			if o.platform != "" {
				p, err := image.ParsePlatform(o.platform)
				if err != nil {
					return usagef("--platform: %v", err)
				}
				platform = &p
			}
			switch o.format {
			case "imgx":
				return saveBundle(ctx, e, s, images, platform, &o)
			case string(archive.FormatDockerArchive), string(archive.FormatOCIArchive):
				opts := archive.SaveOptions{Format: archive.Format(o.format), Platform: platform, ExcludeExtras: o.noExtras}
				var res *archive.SaveResult
				out, err := writeLocation(ctx, e, o.output, &o.transport, closureSize(ctx, s, images, nil), o.verify, func(w io.Writer) error {
					var err error
					res, err = archive.Save(ctx, s, w, images, opts)
					return err
				})
				if err != nil {
					return err
				}
				if o.json {
					return e.printJSON(saveArchiveDoc(o.format, images, res, out))
				}
				if o.output != "-" && !o.quiet {
					fmt.Fprintf(e.Stderr, "Wrote %s %s: %s, %s\n", o.format, o.output, count(len(images), "image"), humanSize(out.Size))
				}
				return nil
			}
			return usagef("unknown format %q (want imgx, docker-archive or oci-archive)", o.format)
		}),
	})
}

func saveBundle(ctx context.Context, e *Env, s *store.Store, images []store.Resolved, platform *ocispec.Platform, o *saveOptions) error {
	if o.compress != "zstd" && o.compress != "none" {
		return usagef("--compress %q: want zstd or none", o.compress)
	}
	if o.since != "" && o.sinceState != "" {
		return usagef("--since and --since-state exclude each other")
	}
	opts := bundle.SaveOptions{Compression: bundle.Compression(o.compress), Level: bundle.Level(o.level), Platform: platform, ExcludeExtras: o.noExtras}
	if o.flatten {
		opts.Flatten = bundle.FlattenInStore(platform, nil)
	}
	if o.since != "" {
		b, err := bundle.ReadBase(ctx, o.since)
		if err != nil {
			return withHint(err, "--since needs the earlier bundle file (only its head is read)")
		}
		opts.Since = b
	}
	var state *syncstate.State
	var tags map[string]digest.Digest
	if o.sinceState != "" {
		var err error
		if state, err = syncstate.Load(o.sinceState); err != nil {
			return err
		}
		opts.Since = state.Base()
		tags = map[string]digest.Digest{}
		for _, im := range images {
			key := im.Desc.Digest.String()
			if !im.Ref.IsZero() {
				key = im.Ref.String()
			}
			tags[key] = im.Desc.Digest
		}
		if !o.always && !o.flatten && state.Unchanged(tags, closureDigests(ctx, s, images)) {
			if !o.quiet {
				fmt.Fprintf(e.Stderr, "Nothing changed since %s: no bundle written (use --always to write one anyway)\n", state.Last)
			}
			return nil
		}
	}
	keys, err := loadSigners(o.signKeys)
	if err != nil {
		return err
	}
	for _, k := range keys {
		opts.Signers = append(opts.Signers, crypto.Signer(k))
	}
	if len(keys) == 0 {
		e.Warnf("the bundle is not signed (use --sign-key KEY; 'imgx keygen' makes one)")
	}
	var res *bundle.SaveResult
	out, err := writeLocation(ctx, e, o.output, &o.transport, closureSize(ctx, s, images, opts.Since), o.verify, func(w io.Writer) error {
		var err error
		res, err = bundle.SaveImages(ctx, s, images, w, opts)
		return err
	})
	if err != nil {
		return err
	}
	if state != nil {
		mb, err := res.Manifest.Marshal()
		if err != nil {
			return err
		}
		if err := state.Record(mb, path.Base(o.output), tags, timeNow()); err != nil {
			return err
		}
		if err := state.Save(o.sinceState); err != nil {
			return withHint(err, "the bundle was published but the state file was not updated: the next run will ship these layers again")
		}
	}
	if o.json {
		return e.printJSON(saveBundleDoc(res, out))
	}
	if o.output != "-" {
		m := res.Manifest
		kind := "bundle"
		if m.Base != nil {
			kind = fmt.Sprintf("delta bundle (on %s; %s expected at the receiver)", m.Base, count(len(m.Expects), "layer"))
		}
		if o.quiet {
			return nil
		}
		fmt.Fprintf(e.Stderr, "Wrote %s %s: %s, %s, %s (%s written), manifest %s\n",
			kind, o.output, count(len(m.Images), "image"), count(len(m.Blobs), "blob"), humanSize(m.TotalSize()), humanSize(out.Size), res.ManifestDigest)
		for _, id := range res.Signers {
			fmt.Fprintf(e.Stderr, "Signed by %s\n", id)
		}
	}
	return nil
}

// closureDigests lists every blob the images reach in the store.
func closureDigests(ctx context.Context, s *store.Store, images []store.Resolved) []digest.Digest {
	var out []digest.Digest
	walkClosure(ctx, s, images, func(d ocispec.Descriptor) { out = append(out, d.Digest) })
	return out
}

// closureSize estimates the bytes a bundle or archive of images needs: the sum of the blobs
// they reach, less the layers a delta base carried. Used only for the early free-space check.
func closureSize(ctx context.Context, s *store.Store, images []store.Resolved, since *bundle.Base) int64 {
	var n int64
	walkClosure(ctx, s, images, func(d ocispec.Descriptor) {
		if since == nil || !since.Carried[d.Digest] {
			n += d.Size
		}
	})
	return n
}

// walkClosure calls fn for every descriptor the images reach. It is for estimates and
// change detection: a store problem shows up, with its cause, in the save that follows.
func walkClosure(ctx context.Context, s *store.Store, images []store.Resolved, fn func(ocispec.Descriptor)) {
	roots := make([]ocispec.Descriptor, len(images))
	for i, im := range images {
		roots[i] = im.Desc
	}
	_ = s.Walk(ctx, roots, func(d ocispec.Descriptor) error { fn(d); return nil })
}
