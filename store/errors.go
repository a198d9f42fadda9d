package store

import "errors"

var (
	// ErrNotFound: no blob, tag or image matches.
	ErrNotFound = errors.New("not found")
	// ErrAmbiguous: a short image ID matches more than one image.
	ErrAmbiguous = errors.New("ambiguous")
	// ErrDigestMismatch: written bytes do not hash to the expected digest.
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrSizeMismatch: written bytes are not the expected size.
	ErrSizeMismatch = errors.New("size mismatch")
	// ErrBusy: an operation needs the store to itself while another process uses it.
	ErrBusy = errors.New("store is busy")
	// ErrMissingBlob: a commit would tag an image whose blobs are not all present.
	ErrMissingBlob = errors.New("missing blob")
)
