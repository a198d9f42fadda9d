package image

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/imgx/imgx/oci"
	"github.com/imgx/imgx/store"
)

// ErrFilter marks a listing filter that is not label=KEY or label=KEY=VALUE.
var ErrFilter = errors.New("invalid filter")

// Summary is one image of a store listing ([List]): one per index entry, so an image with
// two tags is listed twice.
type Summary struct {
	Repository string    `json:"repository"` // familiar name, the raw index name, or "<none>"
	Tag        string    `json:"tag"`        // "<none>" for an untagged image
	ID         string    `json:"id"`         // config digest; the index digest for a multi-platform image
	Digest     string    `json:"digest"`     // manifest or index digest
	Created    time.Time `json:"created"`
	Size       int64     `json:"size"`      // stored size of the default platform's image
	Platforms  []string  `json:"platforms"` // of a multi-platform image; nil otherwise
	// Artifacts are the kinds of the signatures, attestations and SBOMs attached, one per
	// artifact ([] for none).
	Artifacts []string `json:"artifacts"`
	// Labels are the config labels, which filters match.
	Labels map[string]string `json:"-"`
}

// ListOptions tune [List].
type ListOptions struct {
	// Filters keep only images matching every one: label=KEY (the label is set) or
	// label=KEY=VALUE. A malformed filter is an error wrapping [ErrFilter].
	Filters []string
	// Warn, when set, is told of an image whose manifest or config cannot be read (name as
	// [store.Entry.Display] gives it). It is still listed, with what its index entry says;
	// `imgx check` tells more.
	Warn func(name string, err error)
}

// List describes the images in s, in index order.
func List(ctx context.Context, s *store.Store, opts ListOptions) ([]Summary, error) {
	type filter struct {
		key, value string
		hasValue   bool
	}
	var filters []filter
	for _, f := range opts.Filters {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k != "label" || v == "" {
			return nil, fmt.Errorf("%w %q: want label=KEY or label=KEY=VALUE", ErrFilter, f)
		}
		lk, lv, hasVal := strings.Cut(v, "=")
		filters = append(filters, filter{lk, lv, hasVal})
	}
	entries, err := s.Entries()
	if err != nil {
		return nil, err
	}
	rows := []Summary{}
	for _, en := range entries {
		row := summarize(ctx, s, en, opts.Warn)
		keep := true
		for _, f := range filters {
			got, ok := row.Labels[f.key]
			keep = keep && ok && (!f.hasValue || got == f.value)
		}
		if keep {
			rows = append(rows, row)
		}
	}
	return rows, nil
}

func summarize(ctx context.Context, s *store.Store, en store.Entry, warn func(string, error)) Summary {
	row := Summary{Repository: "<none>", Tag: "<none>", Digest: en.Desc.Digest.String(), ID: en.Desc.Digest.String(), Artifacts: []string{}}
	if !en.Ref.IsZero() {
		row.Repository, row.Tag = en.Ref.FamiliarName(), en.Ref.Tag()
	} else if en.Name != "" {
		row.Repository = en.Name
	}
	im, err := Load(ctx, s, en.Desc, nil)
	if err != nil {
		if warn != nil {
			warn(en.Display(), err)
		}
		return row
	}
	if im.Index == nil {
		row.ID = im.ID().String()
	}
	row.Created = im.Config.Created.Time
	row.Size = im.Size()
	row.Labels = im.Config.Config.Labels
	if im.Index != nil {
		if data, err := s.ReadBlob(ctx, en.Desc); err == nil {
			if ix, err := oci.ParseIndex(data); err == nil {
				for _, m := range ix.Manifests {
					if m.Platform != nil {
						row.Platforms = append(row.Platforms, PlatformString(*m.Platform))
					}
				}
			}
		}
	}
	if arts, err := s.ArtifactsOf(ctx, en.Desc); err == nil {
		for _, a := range arts {
			row.Artifacts = append(row.Artifacts, string(a.Kind))
		}
	}
	return row
}
