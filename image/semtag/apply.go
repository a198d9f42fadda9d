package semtag

import (
	"context"
	"errors"
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/ref"
	"github.com/imgx/imgx/store"
)

// ErrInvalid marks a version or repository argument that cannot be used (a caller's
// mistake, not a store problem); errors.Is finds it in what [Apply] returns.
var ErrInvalid = errors.New("invalid semver tagging argument")

// ErrExists is returned by [Apply] when the exact version tag already names another image
// and force was not given: a released version should not change.
var ErrExists = errors.New("already exists for another image")

// invalid keeps the underlying message as it is while matching [ErrInvalid].
type invalid struct{ error }

func (e invalid) Is(target error) bool { return target == ErrInvalid }
func (e invalid) Unwrap() error        { return e.error }

// Result is what [Apply] did.
type Result struct {
	Repository ref.Ref   // the repository, without tag
	Tagged     []ref.Ref // tags now pointing at the image, exact version first
	Kept       []Skip    // moving tags left where they were, with the reason
}

// Apply tags the image desc in store s with the release tag set [PlanTags] computes for
// version in repository repo (a name without tag or digest), given the tags repo already
// has in the store. All tags change in one store transaction, so a crash never leaves X.Y
// moved but latest not. An exact version tag already naming another image is refused
// with [ErrExists] unless force.
func Apply(ctx context.Context, s *store.Store, desc ocispec.Descriptor, version, repo string, force bool) (*Result, error) {
	base, err := ref.ParseRepository(repo)
	if err != nil {
		return nil, invalid{err}
	}
	entries, err := s.Entries()
	if err != nil {
		return nil, err
	}
	var existing []string
	current := map[string]ocispec.Descriptor{}
	for _, en := range entries {
		if !en.Ref.IsZero() && en.Ref.Name() == base.Name() {
			existing = append(existing, en.Ref.Tag())
			current[en.Ref.Tag()] = en.Desc
		}
	}
	plan, err := PlanTags(version, existing)
	if err != nil {
		return nil, invalid{err}
	}
	if d, ok := current[plan.Version]; ok && d.Digest != desc.Digest && !force {
		// Named as imgx images lists it (the image ID), not by manifest digest.
		other := "manifest " + d.Digest.String()
		if id, err := s.ImageID(ctx, d); err == nil {
			other = store.ShortID(id)
		}
		return nil, fmt.Errorf("tag %s:%s %w (%s)", base.FamiliarName(), plan.Version, ErrExists, other)
	}
	tx, err := s.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Discard()
	res := &Result{Repository: base, Tagged: []ref.Ref{}, Kept: plan.Skipped}
	for _, t := range plan.Set {
		r, err := base.WithTag(t)
		if err != nil {
			return nil, err
		}
		tx.Tag(r, desc)
		res.Tagged = append(res.Tagged, r)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	return res, nil
}
