package registry

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/imgx/imgx/store"
)

// ErrPrefix marks a REGISTRY/PREFIX that [PlanAll] cannot push under (no path
// component, or not a valid repository prefix).
var ErrPrefix = errors.New("invalid registry prefix")

// prefixError keeps CheckPrefix's message while matching [ErrPrefix].
type prefixError struct{ error }

func (e prefixError) Is(target error) bool { return target == ErrPrefix }
func (e prefixError) Unwrap() error        { return e.error }

// PushJob is one image of a [PushAllPlan]: a tagged store image and where it goes.
type PushJob struct {
	Source      store.Resolved
	Destination string
}

// PushAllPlan is what [PushAll] pushes: every tagged image of a store under one prefix.
type PushAllPlan struct {
	Jobs    []PushJob // sorted by destination
	Skipped int       // untagged images, which have no repository path to keep
	// ExcludeExtras pushes the images without their signatures, attestations and SBOMs
	// ([Pusher].ExcludeExtras).
	ExcludeExtras bool
}

// PlanAll plans pushing every tagged image of s under prefix (REGISTRY/PREFIX), each to
// [UnderPrefix]. It fails, before anything is sent, if two images would go to the same
// destination (two raw names normalising alike), if s has no tagged image, or if the
// prefix is unusable (an error wrapping [ErrPrefix]).
func PlanAll(s *store.Store, prefix string) (*PushAllPlan, error) {
	entries, err := s.Entries()
	if err != nil {
		return nil, err
	}
	plan := &PushAllPlan{}
	byDst := map[string]string{}
	for _, en := range entries {
		if en.Ref.IsZero() {
			plan.Skipped++
			continue
		}
		dst := UnderPrefix(prefix, en.Ref)
		if other, ok := byDst[dst]; ok {
			return nil, fmt.Errorf("push --all: %s and %s would both go to %s; push one of them by hand", other, en.Ref.Familiar(), dst)
		}
		byDst[dst] = en.Ref.Familiar()
		src := store.Resolved{Desc: en.Desc, Ref: en.Ref}
		src.Desc.Annotations = nil // the index entry's name annotations are not the image's
		plan.Jobs = append(plan.Jobs, PushJob{Source: src, Destination: dst})
	}
	sort.Slice(plan.Jobs, func(i, j int) bool { return plan.Jobs[i].Destination < plan.Jobs[j].Destination })
	if len(plan.Jobs) == 0 {
		return nil, fmt.Errorf("push --all: no tagged images in %s", s.Root())
	}
	if err := CheckPrefix(prefix); err != nil {
		return nil, prefixError{fmt.Errorf("push --all: %w", err)}
	}
	return plan, nil
}

// PushOutcome is how one job of [PushAll] went: Result on success, Err on failure.
type PushOutcome struct {
	PushJob
	Result *PushResult
	Err    error
}

// PushAllResult sums up [PushAll].
type PushAllResult struct {
	Outcomes      []PushOutcome // in plan order; jobs not reached after a cancellation are absent
	Pushed        int
	Failed        int
	Skipped       int   // untagged images, from the plan
	UploadedBytes int64 // uploaded in full, over every image pushed
	planned       int
}

// Err is nil when every image was pushed, the one failure when one failed, and otherwise
// an error naming how many failed that wraps the first failure.
func (r *PushAllResult) Err() error {
	var first error
	for _, o := range r.Outcomes {
		if o.Err != nil {
			first = o.Err
			break
		}
	}
	switch {
	case r.Failed == 0:
		return nil
	case r.Failed == 1:
		return first
	}
	return fmt.Errorf("push --all: %d of %d images failed (first: %w)", r.Failed, r.planned, first)
}

// PushAll pushes the plan's images one after the other with one [Pusher] (so layers shared
// between images are mounted, not uploaded again) and calls each, if set, after each
// image. A failure does not stop the others; a cancelled ctx does. The returned error is
// only for a Pusher that cannot be made; failures are in the result ([PushAllResult.Err]).
func PushAll(ctx context.Context, s *store.Store, plan *PushAllPlan, o Options, each func(PushOutcome)) (*PushAllResult, error) {
	p, err := NewPusher(s, o)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	p.ExcludeExtras = plan.ExcludeExtras
	res := &PushAllResult{Outcomes: []PushOutcome{}, Skipped: plan.Skipped, planned: len(plan.Jobs)}
	for _, j := range plan.Jobs {
		out := PushOutcome{PushJob: j}
		out.Result, out.Err = p.Push(ctx, j.Source, j.Destination)
		if out.Err != nil {
			res.Failed++
		} else {
			res.Pushed++
			res.UploadedBytes += out.Result.UploadedBytes
		}
		res.Outcomes = append(res.Outcomes, out)
		if each != nil {
			each(out)
		}
		if out.Err != nil && ctx.Err() != nil {
			break
		}
	}
	return res, nil
}
