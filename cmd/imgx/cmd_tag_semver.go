package main

import (
	"context"
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/image/semtag"
	"github.com/imgx/imgx/ref"
	"github.com/imgx/imgx/store"
)

// semverTag applies the release tag set for version to repo in one transaction, so a
// crash never leaves X.Y moved but latest not.
func semverTag(ctx context.Context, e *Env, s *store.Store, desc ocispec.Descriptor, version, repo string, force bool) error {
	base, err := ref.ParseRepository(repo)
	if err != nil {
		return usagef("--semver: %v", err)
	}
	entries, err := s.Entries()
	if err != nil {
		return err
	}
	var existing []string
	current := map[string]ocispec.Descriptor{}
	for _, en := range entries {
		if !en.Ref.IsZero() && en.Ref.Name() == base.Name() {
			existing = append(existing, en.Ref.Tag())
			current[en.Ref.Tag()] = en.Desc
		}
	}
	plan, err := semtag.PlanTags(version, existing)
	if err != nil {
		return usagef("--semver: %v", err)
	}
	if d, ok := current[plan.Version]; ok && d.Digest != desc.Digest && !force {
		return withHint(fmt.Errorf("tag %s:%s already exists for another image (%s)", base.FamiliarName(), plan.Version, imageIDOf(ctx, s, d)),
			"a released version should not change; pass --force to move it anyway")
	}
	tx, err := s.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Discard()
	var tagged []ref.Ref
	for _, t := range plan.Set {
		r, err := base.WithTag(t)
		if err != nil {
			return err
		}
		tx.Tag(r, desc)
		tagged = append(tagged, r)
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	for _, r := range tagged {
		fmt.Fprintf(e.Stdout, "Tagged %s\n", r.Familiar())
	}
	for _, sk := range plan.Skipped {
		fmt.Fprintf(e.Stdout, "Kept %s:%s: %s\n", base.FamiliarName(), sk.Tag, sk.Reason)
	}
	return nil
}
