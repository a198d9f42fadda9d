package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/imgx/imgx/internal/errcode"
	"github.com/imgx/imgx/progress"
	"github.com/imgx/imgx/registry"
	"github.com/imgx/imgx/store"
)

// pushSummary is the --json output of push --all.
type pushSummary struct {
	jsonDoc
	Images        []pushOutcome `json:"images"`
	Pushed        int           `json:"pushed"`
	Failed        int           `json:"failed"`
	Skipped       int           `json:"skipped_untagged"`
	UploadedBytes int64         `json:"uploaded_bytes"`
}

type pushOutcome struct {
	*registry.PushResult
	Source      string `json:"source"`
	Destination string `json:"destination"`
	Error       string `json:"error,omitempty"`
	Code        string `json:"code,omitempty"`
}

// pushAll runs push --all (registry.PlanAll, registry.PushAll) and prints each image and
// the summary.
func pushAll(ctx context.Context, e *Env, s *store.Store, prefix string, o *pushOptions) error {
	plan, err := registry.PlanAll(s, prefix)
	if errors.Is(err, registry.ErrPrefix) {
		return usagef("%v", err)
	} else if err != nil {
		return err
	}
	plan.ExcludeExtras = o.noExt
	ro, err := o.reg.options(e, prefix)
	if err != nil {
		return err
	}
	defer ro.Progress.Done()
	sum := pushSummary{jsonDoc: doc, Images: []pushOutcome{}}
	res, err := registry.PushAll(ctx, s, plan, ro, func(r registry.PushOutcome) {
		out := pushOutcome{PushResult: r.Result, Source: r.Source.Ref.String(), Destination: r.Destination}
		if r.Err != nil {
			out.Error, out.Code = r.Err.Error(), errcode.Of(r.Err)
			e.Warnf("%v", r.Err)
		} else if !o.json && !o.quiet {
			printPushed(e, r.Result)
		}
		sum.Images = append(sum.Images, out)
	})
	if err != nil {
		return err
	}
	sum.Pushed, sum.Failed, sum.Skipped, sum.UploadedBytes = res.Pushed, res.Failed, res.Skipped, res.UploadedBytes
	if o.json {
		if err := e.printJSON(sum); err != nil {
			return err
		}
	} else if !o.quiet {
		fmt.Fprintf(e.Stdout, "push --all: %d pushed, %d failed, %d untagged skipped; %s uploaded\n",
			sum.Pushed, sum.Failed, sum.Skipped, progress.Size(sum.UploadedBytes))
	}
	if err := res.Err(); err != nil {
		return registryHint(err, registryHost(plan.Jobs[0].Destination))
	}
	return nil
}
