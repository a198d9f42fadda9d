package digestio

import (
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
)

var (
	// ErrDigestMismatch: the data hashed to a different digest. Returned
	// wrapped in a *MismatchError that carries both digests.
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrSizeMismatch: the data was shorter (also wraps io.ErrUnexpectedEOF)
	// or longer (also wraps ErrTrailingData) than the expected size.
	ErrSizeMismatch = errors.New("size mismatch")
	// ErrTrailingData: the source had more bytes than the expected size.
	ErrTrailingData = errors.New("trailing data")
	// ErrNotFinished: Verify was called before all expected bytes were read.
	ErrNotFinished = errors.New("verify before end of data")
	// ErrInvalidDescriptor: the expected digest or size cannot be checked
	// (bad digest syntax, unsupported algorithm, negative size).
	ErrInvalidDescriptor = errors.New("invalid descriptor")
)

// MismatchError reports the digest that was expected and the one computed.
type MismatchError struct {
	Want, Got digest.Digest
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("digest mismatch: content hashes to %s", e.Got)
}

// Unwrap makes errors.Is(err, ErrDigestMismatch) true.
func (e *MismatchError) Unwrap() error { return ErrDigestMismatch }
