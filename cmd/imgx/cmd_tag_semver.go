package main

import (
	"context"
	"errors"
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/image/semtag"
	"github.com/imgx/imgx/store"
)

// semverTag applies the release tag set for version to repo (semtag.Apply) and prints it.
func semverTag(ctx context.Context, e *Env, s *store.Store, desc ocispec.Descriptor, version, repo string, force bool) error {
	res, err := semtag.Apply(ctx, s, desc, version, repo, force)
	switch {
	case errors.Is(err, semtag.ErrInvalid):
		return usagef("--semver: %v", err)
	case errors.Is(err, semtag.ErrExists):
		return withHint(err, "a released version should not change; pass --force to move it anyway")
	case err != nil:
		return err
	}
	for _, r := range res.Tagged {
		fmt.Fprintf(e.Stdout, "Tagged %s\n", r.Familiar())
	}
	for _, sk := range res.Kept {
		fmt.Fprintf(e.Stdout, "Kept %s:%s: %s\n", res.Repository.FamiliarName(), sk.Tag, sk.Reason)
	}
	return nil
}
