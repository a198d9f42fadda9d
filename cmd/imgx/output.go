package main

import (
	"context"

	"fmt"
	"github.com/imgx/imgx/store"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"io"
	"text/tabwriter"
	"time"

	"github.com/imgx/imgx/progress"
)

func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
}

// humanSize is progress.Size, the one size format (SI units, as docker prints them).
func humanSize(n int64) string { return progress.Size(n) }

// humanAgo formats a creation time like docker images does ("3 days ago").
func humanAgo(t time.Time, now time.Time) string {
	if t.IsZero() {
		return "N/A"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "in the future"
	case d < time.Minute:
		return "Less than a minute ago"
	case d < time.Hour:
		return plural(int(d.Minutes()), "minute") + " ago"
	case d < 48*time.Hour:
		return plural(int(d.Hours()), "hour") + " ago"
	case d < 14*24*time.Hour:
		return plural(int(d.Hours()/24), "day") + " ago"
	case d < 60*24*time.Hour:
		return plural(int(d.Hours()/24/7), "week") + " ago"
	case d < 2*365*24*time.Hour:
		return plural(int(d.Hours()/24/30), "month") + " ago"
	}
	return plural(int(d.Hours()/24/365), "year") + " ago"
}

func plural(n int, unit string) string {
	if n == 1 {
		if unit == "hour" {
			return "About an hour"
		}
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// count says n noun with the noun in agreement: "1 image", "3 images", "0 problems".
// Every noun imgx counts takes a plain -s.
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// printImageID prints the ID of the image desc names, as import and flatten do.
func printImageID(ctx context.Context, e *Env, s *store.Store, desc ocispec.Descriptor) error {
	id, err := s.ImageID(ctx, desc)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.Stdout, id)
	return nil
}
