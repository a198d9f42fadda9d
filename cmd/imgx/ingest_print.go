package main

import (
	"fmt"
	"strings"

	"github.com/imgx/imgx/ingest"
	"github.com/imgx/imgx/internal/safetext"
)

func printIngest(e *Env, rep *ingest.Report) {
	for _, it := range rep.Items {
		// Names and reasons come from the carrier: escaped before they reach a terminal or log.
		line := fmt.Sprintf("%-8s %s", it.Outcome, safetext.Quote(it.Name))
		if it.Sequence > 0 {
			line += fmt.Sprintf(" (delta %d)", it.Sequence)
		}
		if len(it.Images) > 0 {
			line += ": " + safetext.Quote(strings.Join(it.Images, ", "))
		}
		if it.Outcome == ingest.Loaded {
			line += fmt.Sprintf(", %s written", humanSize(it.Bytes))
		}
		if it.Reason != "" && it.Outcome != ingest.Loaded {
			line += " — " + safetext.Line(it.Reason) // one line per bundle: a newline would forge the next
		}
		if it.MovedTo != "" {
			line += " -> " + safetext.Quote(it.MovedTo)
		}
		fmt.Fprintln(e.Stdout, line)
		for _, w := range it.Warnings {
			e.Warnf("%s: %s", safetext.Quote(it.Name), w)
		}
	}
	fmt.Fprintf(e.Stdout, "ingest: %d loaded, %d skipped, %d waiting, %d failed; %s written\n",
		rep.Loaded, rep.Skipped, rep.Waiting, rep.Failed, humanSize(rep.Bytes))
}
