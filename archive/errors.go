package archive

import "errors"

var (
	// ErrUnknownFormat: the input is not an archive this package reads.
	ErrUnknownFormat = errors.New("unknown archive format")
	// ErrUnsafeEntry: an entry name is absolute, climbs out with "..", or is a link whose
	// target leaves the archive.
	ErrUnsafeEntry = errors.New("unsafe entry")
	// ErrDuplicateEntry: two entries have the same name.
	ErrDuplicateEntry = errors.New("duplicate entry")
	// ErrMissingEntry: the metadata names a file the archive does not contain.
	ErrMissingEntry = errors.New("missing entry")
	// ErrBadEntry: an entry has an unsupported type, or content that contradicts the
	// metadata describing it (size, digest, diff ID).
	ErrBadEntry = errors.New("bad entry")
	// ErrBadMetadata: manifest.json, index.json, a manifest or a config cannot be used.
	ErrBadMetadata = errors.New("bad metadata")
	// ErrTooLarge: the input expands beyond the configured bounds (a decompression bomb,
	// or a metadata file too large to hold in memory).
	ErrTooLarge = errors.New("input too large")
)
