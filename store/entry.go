package store

import ocispec "github.com/opencontainers/image-spec/specs-go/v1"

// EntryOf reads the tag of one index.json entry the way [Store.Entries] does, for a
// reader that holds its own copy of the index (imgx serve reads index.json once per
// change through one file descriptor).
func EntryOf(d ocispec.Descriptor) Entry { return entryOf(d) }
