package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/imgx/imgx/archive"
	"github.com/imgx/imgx/intake"
	"github.com/imgx/imgx/internal/safetext"
	"github.com/imgx/imgx/seal"
)

// loadHint says what a failed load left behind and what to do next.
func loadHint(ctx context.Context, err error) string {
	switch {
	case ctx.Err() != nil:
		return "interrupted: blobs already verified stay staged; re-run the same command to resume"
	case errors.Is(err, intake.ErrUnsignedFormat):
		return "save it as a signed imgx bundle on the sending side (imgx save --sign-key), or pass --insecure-accept-unsigned to load it unverified; nothing was added to the store"
	case errors.Is(err, seal.ErrEncrypted), errors.Is(err, seal.ErrNoMatch):
		return "give --identity-file with the age identity or SSH key it was encrypted to; nothing was added to the store"
	case errors.Is(err, archive.ErrUnknownFormat):
		return "imgx load reads imgx bundles, docker-archive, oci-archive and OCI layouts (a directory must hold index.json or manifest.json); nothing was added to the store"
	}
	return "no image was added to the store; blobs that verified stay staged, so a re-run resumes (imgx prune removes them)"
}

// printReused tells that a re-run resumed an interrupted load.
func printReused(e *Env, n int) {
	if n > 0 {
		fmt.Fprintf(e.Stdout, "Reused %d staged blobs verified by an interrupted load\n", n)
	}
}

func printLoaded(e *Env, res *intake.Result, o *loadOptions) error {
	for _, w := range res.Warnings {
		e.Warnf("%s", w)
	}
	if res.Archive != nil {
		for _, n := range res.Archive.Notes {
			e.Warnf("%s", n)
		}
	}
	if o.json {
		return writeJSON(e.Stdout, loadDoc(res))
	}
	if o.quiet {
		return nil
	}
	for _, id := range res.TrustedBy {
		fmt.Fprintf(e.Stdout, "Verified signature: %s\n", id)
	}
	for _, im := range res.Images {
		if im.Tag != "" {
			fmt.Fprintf(e.Stdout, "Loaded image: %s\n", safetext.Quote(im.Tag))
		} else if im.ID != "" {
			fmt.Fprintf(e.Stdout, "Loaded image ID: %s\n", im.ID)
		} else {
			fmt.Fprintf(e.Stdout, "Loaded image: manifest %s\n", im.Digest)
		}
	}
	for _, name := range res.ImagesVerified {
		fmt.Fprintf(e.Stdout, "Verified image signature: %s\n", safetext.Quote(name))
	}
	if res.Bundle != nil && len(res.Bundle.Manifest.Artifacts) > 0 {
		fmt.Fprintf(e.Stdout, "Artifacts: %d (signatures, attestations, SBOMs) stored with their images\n", len(res.Bundle.Manifest.Artifacts))
	}
	if res.Bundle != nil {
		printReused(e, res.Bundle.BlobsReused)
	} else if res.Archive != nil {
		printReused(e, res.Archive.BlobsReused)
	}
	return nil
}
