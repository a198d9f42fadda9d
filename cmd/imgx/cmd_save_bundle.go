package main

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"os"
	"path"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/bundle"
	"github.com/imgx/imgx/store"
	"github.com/imgx/imgx/syncstate"
)

// saveBundle writes an imgx bundle through syncstate.Send and prints what it did.
func saveBundle(ctx context.Context, e *Env, s *store.Store, images []store.Resolved, platform *ocispec.Platform,
	publish syncstate.Publisher, out **outputResult, o *saveOptions) error {
	opts := syncstate.SendOptions{StatePath: o.sinceState, Name: path.Base(o.output), Always: o.always, Now: timeNow,
		Bundle: bundle.SaveOptions{Compression: bundle.Compression(o.compress), Level: bundle.Level(o.level), Platform: platform, Flatten: o.flatten, ExcludeExtras: o.noExtras,
			LayerRecipes: o.layerRecipes, SourceDateEpoch: os.Getenv("SOURCE_DATE_EPOCH")},
		Signers: func() ([]crypto.Signer, error) {
			keys, err := loadSigners(o.signKeys)
			if len(o.signKeys) == 0 {
				e.Warnf("the bundle is not signed (use --sign-key KEY; 'imgx keygen' makes one)")
			}
			var sg []crypto.Signer
			for _, k := range keys {
				sg = append(sg, k)
			}
			return sg, err
		}}
	if o.since != "" {
		b, err := bundle.ReadBase(ctx, o.since)
		if err != nil {
			return withHint(err, sinceHint(err))
		}
		opts.Bundle.Since = b
	}
	enc, err := o.encrypt.sealer(o.output, &opts.Bundle)
	if err != nil {
		return err
	}
	if enc != nil { // the bundle stream goes through age on its way to the location
		plain := publish
		publish = func(ctx context.Context, size int64, write func(io.Writer) error) error {
			if err := plain(ctx, size, func(w io.Writer) error { return enc.save(w, write) }); err != nil {
				return err
			}
			if err := enc.published(); err != nil {
				e.Warnf("%v", err)
			}
			return nil
		}
	}
	r, err := syncstate.Send(ctx, s, images, publish, opts)
	switch {
	case errors.Is(err, syncstate.ErrNotRecorded):
		return withHint(err, "the next run will ship these layers again")
	case err != nil && (r == nil || *out == nil):
		return err
	case err != nil && o.sinceState != "":
		// Several -o, some failed: Send recorded nothing, so a stick that failed does
		// not miss these layers next time.
		e.Warnf("%s not updated: not every destination got the bundle, so the next one carries these layers again", o.sinceState)
	}
	switch {
	case r.Unchanged && o.json:
		return e.printJSON(unchangedDoc(r.Last))
	case r.Unchanged:
		if !o.quiet {
			fmt.Fprintf(e.Stderr, "Nothing changed since %s: no bundle written (use --always to write one anyway)\n", r.Last)
		}
		return nil
	case o.json:
		return errors.Join(e.printJSON(saveBundleDoc(r.Bundle, *out)), err)
	case o.output == "-" || o.quiet:
		printDestinations(e, *out, true)
		return err
	}
	m := r.Bundle.Manifest
	kind := "bundle"
	if m.Base != nil {
		kind = fmt.Sprintf("delta bundle (on %s; %s expected at the receiver)", m.Base, count(len(m.Expects), "layer"))
	}
	if enc != nil {
		kind = "encrypted " + kind
	}
	fmt.Fprintf(e.Stderr, "Wrote %s %s: %s, %s, %s (%s written), manifest %s\n",
		kind, outputName(o.outputs), count(len(m.Images), "image"), count(len(m.Blobs), "blob"), humanSize(m.TotalSize()), humanSize((*out).Size), r.Bundle.ManifestDigest)
	for _, l := range r.Bundle.Layers {
		how := "whole"
		if l.Recipe {
			how = "as a recipe"
		}
		fmt.Fprintf(e.Stderr, "Layer %s %s: %s\n", l.Layer, how, l.Reason)
	}
	for _, id := range r.Bundle.Signers {
		fmt.Fprintf(e.Stderr, "Signed by %s\n", id)
	}
	printDestinations(e, *out, false)
	return err
}
