package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/imgx/imgx/internal/errcode"
	"github.com/imgx/imgx/transport/dial"
)

// save -o is repeatable: the same bundle or archive goes to every LOCATION at once
// (dial.WriteMany). This file holds the command side of that: checks, the call, the
// per-destination report.

// destinationJSON is one destination of a save with several -o (docs/json.md).
type destinationJSON struct {
	Location string `json:"location"`
	Status   string `json:"status"` // written, verified or failed
	Size     int64  `json:"size"`
	Resumed  int64  `json:"resumed"`
	SHA256   string `json:"sha256"`
	Error    string `json:"error,omitempty"`
	Code     string `json:"code,omitempty"`
}

// firstOutput is the LOCATION of a single -o, "-" without one.
func firstOutput(outs []string) string {
	if len(outs) == 0 {
		return "-"
	}
	return outs[0]
}

// outputName is how the summary names where the file went.
func outputName(outs []string) string {
	if len(outs) > 1 {
		return fmt.Sprintf("to %d destinations", len(outs))
	}
	return firstOutput(outs)
}

// checkOutputs returns the usage errors of the -o LOCATIONs, as checkOutput does for one;
// with several, standard output and a location given twice are refused.
func checkOutputs(e *Env, outs []string, tf *transportFlags) error {
	if len(outs) <= 1 {
		return checkOutput(e, firstOutput(outs), tf)
	}
	seen := map[string]bool{}
	for _, s := range outs {
		if s == "-" || s == "" {
			return withHint(usagef("standard output cannot be one of several destinations"), "give a file or URL to every -o")
		}
		if seen[s] {
			return usagef("-o %s given twice", s)
		}
		seen[s] = true
		if err := checkOutput(e, s, tf); err != nil {
			return err
		}
	}
	return nil
}

// writeOutputs writes what fill writes to every -o LOCATION: one goes through
// writeLocation; several through dial.WriteMany, fill running once. The result is nil
// when nothing was published; with several it carries one entry per destination, and
// the error says how many failed even though others were published.
func writeOutputs(ctx context.Context, e *Env, outs []string, tf *transportFlags, sizeHint int64, verifyAfter bool, fill func(w io.Writer) error) (*outputResult, error) {
	if len(outs) <= 1 {
		return writeLocation(ctx, e, firstOutput(outs), tf, sizeHint, verifyAfter, fill)
	}
	if err := checkOutputs(e, outs, tf); err != nil {
		return nil, err
	}
	opts, err := tf.options(e)
	if err != nil {
		return nil, err
	}
	dests, err := dial.WriteMany(ctx, outs, opts, dial.ManyOptions{WriteOptions: dial.WriteOptions{Size: sizeHint, Verify: verifyAfter, Put: putTuning}}, fill)
	var me *dial.ManyError
	if err != nil && !errors.As(err, &me) {
		return nil, err
	}
	out := &outputResult{Location: outs[0], destinations: []destinationJSON{}}
	published := false
	for _, d := range dests {
		j := destinationJSON{Location: d.Location, Status: d.Status()}
		if d.Result != nil {
			j.Size, j.Resumed, j.SHA256 = d.Result.Size, d.Result.Resumed, d.Result.SHA256
		}
		if d.Err != nil {
			j.Error, j.Code = d.Err.Error(), errcode.Of(d.Err)
		} else {
			published = true
			out.Size, out.Resumed, out.SHA256 = j.Size, j.Resumed, j.SHA256
		}
		out.destinations = append(out.destinations, j)
		out.failed += boolInt(d.Err != nil)
	}
	if !published {
		printDestinations(e, out, true)
		return nil, withHint(err, "nothing was published; what was written is kept beside each file, and the same command resumes from there")
	}
	if err != nil {
		err = withHint(err, "the others were published; run the same command again with the failed -o to resume them")
	}
	return out, err
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// printDestinations reports each destination of a save with several -o on stderr, one
// line each; quiet leaves out the ones that succeeded.
func printDestinations(e *Env, out *outputResult, quiet bool) {
	for _, d := range out.destinations {
		switch {
		case d.Error != "":
			fmt.Fprintf(e.Stderr, "  %s: failed: %s\n", d.Location, d.Error)
		case !quiet:
			fmt.Fprintf(e.Stderr, "  %s: %s\n", d.Location, d.Status)
		}
	}
}
