// Package syncstate keeps the sending side's record for nightly delta bundles: which blobs
// earlier bundles shipped, which bundle was last, and which tags it carried. With it the
// sender makes each night's delta without keeping the old bundles, and knows when nothing
// changed. The file is replaced atomically and only after a bundle was published, so a
// failed night leaves it as it was and the next night ships everything still missing.
//
// [Send] is the whole sending side (what `imgx save --since-state` runs): load the state,
// skip the night if nothing changed, write the delta, hand it to a [Publisher] (a file, an
// SFTP server, …), record it.
package syncstate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/imgx/imgx/bundle"
	"github.com/imgx/imgx/internal/atomicfile"
)

const version = 1

// State is the sender's record. The zero State (no file yet) makes the next bundle a full one.
type State struct {
	Version int `json:"version"`
	// Last is the last bundle published; the next delta builds on it.
	Last *bundle.BaseRef `json:"last,omitempty"`
	// Tags maps each normalised tag the last bundle carried to its manifest digest.
	Tags map[string]digest.Digest `json:"tags"`
	// Shipped maps every blob any bundle carried to the sequence of the first one.
	Shipped map[digest.Digest]int `json:"shipped"`
	Updated time.Time             `json:"updated"`
}

// Load reads the state file at path. A missing file is an empty state, not an error.
func Load(path string) (*State, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &State{Version: version, Tags: map[string]digest.Digest{}, Shipped: map[digest.Digest]int{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state file %s: %w", path, err)
	}
	var st State
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("state file %s: %w", path, err)
	}
	if st.Version != version {
		return nil, fmt.Errorf("state file %s: version %d, this imgx reads %d", path, st.Version, version)
	}
	if st.Tags == nil {
		st.Tags = map[string]digest.Digest{}
	}
	if st.Shipped == nil {
		st.Shipped = map[digest.Digest]int{}
	}
	for d := range st.Shipped {
		if err := d.Validate(); err != nil {
			return nil, fmt.Errorf("state file %s: blob %q: %w", path, d, err)
		}
	}
	return &st, nil
}

// Base is what the next delta builds on, or nil when nothing was shipped yet.
func (st *State) Base() *bundle.Base {
	if st.Last == nil {
		return nil
	}
	b := &bundle.Base{Ref: *st.Last, Carried: make(map[digest.Digest]bool, len(st.Shipped))}
	for d := range st.Shipped {
		b.Carried[d] = true
	}
	return b
}

// Unchanged reports whether a bundle of images (tag → manifest digest) needing blobs would
// carry nothing new: the same tags at the same digests as last time, and every blob shipped.
func (st *State) Unchanged(tags map[string]digest.Digest, blobs []digest.Digest) bool {
	if st.Last == nil || len(tags) != len(st.Tags) {
		return false
	}
	for t, d := range tags {
		if st.Tags[t] != d {
			return false
		}
	}
	for _, b := range blobs {
		if _, ok := st.Shipped[b]; !ok {
			return false
		}
	}
	return true
}

// Record notes a published bundle: its manifest bytes (as written), the file name it was
// published under, and the tags it carried.
func (st *State) Record(manifest []byte, name string, tags map[string]digest.Digest, now time.Time) error {
	base, m, err := bundle.BaseFromManifest(manifest, name)
	if err != nil {
		return fmt.Errorf("record bundle %s: %w", name, err)
	}
	ref := base.Ref
	st.Last = &ref
	st.Tags = make(map[string]digest.Digest, len(tags))
	for t, d := range tags {
		st.Tags[t] = d
	}
	for _, d := range m.Blobs {
		if _, ok := st.Shipped[d.Digest]; !ok {
			st.Shipped[d.Digest] = m.Sequence
		}
	}
	st.Updated = now.UTC()
	return nil
}

// Save writes the state to path atomically.
func (st *State) Save(path string) error {
	st.Version = version
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("state file %s: %w", path, err)
	}
	return nil
}

// Summary lists the tags in a stable order, for messages.
func (st *State) Summary() []string {
	var out []string
	for t, d := range st.Tags {
		out = append(out, t+"@"+d.String())
	}
	sort.Strings(out)
	return out
}
