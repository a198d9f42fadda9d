package ingest

import (
	"context"
	"path"
	"sort"
	"strings"

	"filippo.io/age"

	"github.com/imgx/imgx/bundle"
	"github.com/imgx/imgx/seal"
	"github.com/imgx/imgx/transport"
)

// ListOptions tunes [List]. The zero value lists the *.imgx files, undescribed.
type ListOptions struct {
	// All lists every file and directory, not only *.imgx files.
	All bool
	// Describe reads the head of each file (a few KiB) into Entry.Bundle.
	Describe bool
	// Identities decrypt the heads of encrypted bundles; without one that matches, an
	// encrypted bundle is listed as such (Entry.Encrypted) and left undescribed.
	Identities []age.Identity
}

// Entry is one file of a directory, as [List] returns it.
type Entry struct {
	transport.FileInfo
	// Bundle is the file's head, with ListOptions.Describe, when it is a bundle.
	Bundle *bundle.Summary
	// Err is why the file could not be described: it could not be opened, or (NotBundle)
	// its head is not a bundle's.
	Err       error
	NotBundle bool
	// Encrypted is set for an encrypted (age) file, described or not.
	Encrypted bool
}

// List returns the complete files of b's directory, sorted by name: uploads in progress
// (temporary names) are never listed, so that a poller sees only files it can read. With
// opts.Describe each file's head is read ([bundle.Describe]); a file that cannot be
// described is listed with Err set, and the listing goes on. The names are the carrier's,
// checked by the backend ([transport.CheckEntryName]) but to be escaped before printing.
func List(ctx context.Context, b transport.Backend, opts ListOptions) ([]Entry, error) {
	entries := []Entry{}
	err := b.List(ctx, "", func(fi transport.FileInfo) error {
		if opts.All || (!fi.IsDir && strings.HasSuffix(fi.Name, ".imgx")) {
			entries = append(entries, Entry{FileInfo: fi})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
	if opts.Describe {
		for i := range entries {
			if !entries[i].IsDir {
				describe(ctx, b, &entries[i], opts.Identities)
			}
		}
	}
	return entries, nil
}

func describe(ctx context.Context, b transport.Backend, e *Entry, ids []age.Identity) {
	rc, err := b.Open(ctx, path.Clean(e.Name), 0)
	if err != nil {
		e.Err = err
		return
	}
	defer rc.Close()
	r, enc, err := seal.MaybeOpen(rc, ids)
	e.Encrypted = enc
	if err != nil {
		e.Err = err
		return
	}
	e.Bundle, e.Err = bundle.Describe(ctx, r)
	e.NotBundle = e.Err != nil
}
