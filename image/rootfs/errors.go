package rootfs

import (
	"errors"
	"fmt"
)

var (
	// ErrUnsafePath marks an entry name, hard link target or unpack write
	// that would land outside the root.
	ErrUnsafePath = errors.New("path escapes root")
	// ErrInvalidName marks an empty entry name or one containing NUL.
	ErrInvalidName = errors.New("invalid entry name")
	// ErrBadLayer marks a layer stream that is not a well-formed layer tar:
	// truncated, not a tar, unsupported entry type, missing hard link target,
	// or different bytes on the second pass.
	ErrBadLayer = errors.New("malformed layer")
	// ErrNotEmpty marks an unpack into a directory that already has entries, without
	// UnpackOptions.Merge.
	ErrNotEmpty = errors.New("directory is not empty")
)

// EntryError says which layer and entry a problem came from, so callers can
// report it and still test the cause with errors.Is.
type EntryError struct {
	Layer int    // index of the layer, bottom first; -1 when not known
	Entry string // entry name as found in the tar; empty when not known
	Err   error
}

func (e *EntryError) Error() string {
	switch {
	case e.Layer >= 0 && e.Entry != "":
		return fmt.Sprintf("layer %d: entry %s: %v", e.Layer, e.Entry, e.Err)
	case e.Layer >= 0:
		return fmt.Sprintf("layer %d: %v", e.Layer, e.Err)
	case e.Entry != "":
		return fmt.Sprintf("entry %s: %v", e.Entry, e.Err)
	}
	return e.Err.Error()
}

func (e *EntryError) Unwrap() error { return e.Err }
