// Package ref parses image references and normalises them the way Docker does, so that
// "busybox", "library/busybox:latest" and "docker.io/library/busybox:latest" name one image.
package ref

import (
	"errors"
	"fmt"
	"strings"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

// Ref is a parsed reference. Exactly one of Tag and Digest may be empty; a plain
// name gets the tag "latest".
type Ref struct {
	named reference.Named
}

// ErrInvalid marks a string that is not a valid image reference.
var ErrInvalid = errors.New("invalid reference")

// Parse parses and normalises s. A reference without tag or digest gets ":latest".
func Parse(s string) (Ref, error) {
	n, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return Ref{}, fmt.Errorf("%w %q: %v", ErrInvalid, s, err)
	}
	return Ref{named: reference.TagNameOnly(n)}, nil
}

// ParseNamed parses s, which must be a name with an optional tag but no digest (a tag target).
func ParseNamed(s string) (Ref, error) {
	r, err := Parse(s)
	if err != nil {
		return Ref{}, err
	}
	if r.Digest() != "" {
		return Ref{}, fmt.Errorf("%w %q: a tag cannot contain a digest", ErrInvalid, s)
	}
	return r, nil
}

// IsZero reports whether r is the zero Ref.
func (r Ref) IsZero() bool { return r.named == nil }

// Name is the normalised repository name: "docker.io/library/busybox".
func (r Ref) Name() string { return r.named.Name() }

// FamiliarName is the short repository name users type: "busybox".
func (r Ref) FamiliarName() string { return reference.FamiliarName(r.named) }

// Tag returns the tag, or "" for a digest reference.
func (r Ref) Tag() string {
	if t, ok := r.named.(reference.Tagged); ok {
		return t.Tag()
	}
	return ""
}

// Digest returns the digest of a NAME@sha256:… reference, or "".
func (r Ref) Digest() digest.Digest {
	if d, ok := r.named.(reference.Digested); ok {
		return d.Digest()
	}
	return ""
}

// WithTag returns r's repository with tag t.
func (r Ref) WithTag(t string) (Ref, error) {
	n, err := reference.WithTag(reference.TrimNamed(r.named), t)
	if err != nil {
		return Ref{}, fmt.Errorf("%w: tag %q: %v", ErrInvalid, t, err)
	}
	return Ref{named: n}, nil
}

// String is the full normalised form: "docker.io/library/busybox:latest".
func (r Ref) String() string {
	if r.named == nil {
		return ""
	}
	return r.named.String()
}

// Familiar is the short form: "busybox:latest".
func (r Ref) Familiar() string {
	if r.named == nil {
		return ""
	}
	return reference.FamiliarString(r.named)
}

// LooksLikeDigest reports whether s is a bare digest or hex prefix rather than a name,
// i.e. something to resolve against image IDs.
func LooksLikeDigest(s string) bool {
	s = strings.TrimPrefix(s, "sha256:")
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// ParseRepository parses a repository name without tag or digest ("registry.lan/app").
// The result carries the tag "latest"; use WithTag for others.
func ParseRepository(s string) (Ref, error) {
	n, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return Ref{}, fmt.Errorf("%w %q: %v", ErrInvalid, s, err)
	}
	if !reference.IsNameOnly(n) {
		return Ref{}, fmt.Errorf("%w %q: want a repository without tag or digest", ErrInvalid, s)
	}
	return Ref{named: reference.TagNameOnly(n)}, nil
}
