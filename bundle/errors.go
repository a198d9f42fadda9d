package bundle

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinels; test with errors.Is.
var (
	// ErrNotBundle: the stream is not an imgx bundle (wrong first entry, not tar).
	ErrNotBundle = errors.New("not an imgx bundle")
	// ErrVersion: the bundle's major format version is unknown to this reader.
	ErrVersion = errors.New("unsupported bundle format version")
	// ErrMalformed: the bundle breaks the format (entry order, names, types, manifest).
	ErrMalformed = errors.New("malformed bundle")
	// ErrUnsafePath: an entry name is absolute or climbs out with "..".
	ErrUnsafePath = errors.New("unsafe entry name")
	// ErrDigest: a blob or file does not hash to the digest the manifest pins.
	ErrDigest = errors.New("digest mismatch")
	// ErrSize: an entry's size differs from what the manifest declares.
	ErrSize = errors.New("size mismatch")
	// ErrTooLarge: the stream decompresses to more than the manifest allows (a bomb).
	ErrTooLarge = errors.New("bundle larger than its manifest declares")
	// ErrTruncated: the stream ends before the bundle does.
	ErrTruncated = errors.New("bundle is truncated")
	// ErrMissingBase: a delta bundle needs blobs the store does not have.
	ErrMissingBase = errors.New("delta bundle's base is not loaded")
	// ErrSignature: the signatures do not satisfy the trust policy (wraps verify's errors).
	ErrSignature = errors.New("signature check failed")
	// ErrImage: a manifest, index or config is inconsistent with what it references.
	ErrImage = errors.New("inconsistent image")
)

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// ProblemsError lists every problem [Verify] found.
type ProblemsError struct{ Problems []error }

func (e *ProblemsError) Error() string {
	if len(e.Problems) == 1 {
		return e.Problems[0].Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d problems:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.Error())
	}
	return b.String()
}

func (e *ProblemsError) Unwrap() []error { return e.Problems }
