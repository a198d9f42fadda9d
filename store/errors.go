package store

import (
	"errors"

	"github.com/imgx/imgx/internal/digestio"
)

var (
	// ErrNotFound: no blob, tag or image matches.
	ErrNotFound = errors.New("not found")
	// ErrAmbiguous: a short image ID matches more than one image.
	ErrAmbiguous = errors.New("ambiguous")
	// ErrDigestMismatch: bytes do not hash to the expected digest (the error is a
	// *MismatchError naming both digests). Shared with every verifying reader in imgx.
	ErrDigestMismatch = digestio.ErrDigestMismatch
	// ErrSizeMismatch: bytes are not the expected size.
	ErrSizeMismatch = digestio.ErrSizeMismatch
	// ErrBusy: an operation needs the store to itself while another process uses it.
	ErrBusy = errors.New("store is busy")
	// ErrMissingBlob: a commit would tag an image whose blobs are not all present.
	ErrMissingBlob = errors.New("missing blob")
	// ErrIncomplete: the content graph cannot be read completely (index.json, or a
	// manifest or index whose children are therefore unknown), so a destructive
	// operation refused to run.
	ErrIncomplete = errors.New("content graph cannot be read completely")
	// ErrNoStore: OpenExisting found no store (no OCI layout marker) at the path.
	ErrNoStore = errors.New("no store")
	// ErrTagTarget: a name was given for an input's untagged image (load --tag), but the
	// input does not hold exactly one.
	ErrTagTarget = errors.New("a name for the untagged image needs exactly one")
)

// MismatchError reports a blob whose bytes hash to another digest.
type MismatchError = digestio.MismatchError
