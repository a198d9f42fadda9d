// Package errcode classifies errors into the small, stable set of codes that imgx's JSON
// output carries next to each error message, so that scripts branch on a code rather
// than on English text. The codes are documented in docs/json.md; adding one is a
// schema change, renaming one is a breaking change.
package errcode

import (
	"errors"

	"github.com/imgx/imgx/bundle"
	"github.com/imgx/imgx/registry"
	"github.com/imgx/imgx/seal"
	"github.com/imgx/imgx/store"
	"github.com/imgx/imgx/transport"
	"github.com/imgx/imgx/transport/local"
	"github.com/imgx/imgx/verify"
)

// The codes. Other is for every error none of the others covers.
const (
	Signature   = "signature"    // unsigned, untrusted, invalid signature, threshold not met
	Digest      = "digest"       // a blob's digest or size does not match its descriptor
	Truncated   = "truncated"    // the input ended early
	Malformed   = "malformed"    // not a bundle, unsupported version, bad manifest or image
	UnsafePath  = "unsafe_path"  // an entry or file name escapes, or a link on a carrier
	MissingBase = "missing_base" // a delta bundle's base is not loaded
	MissingBlob = "missing_blob" // a blob an image uses is not in the store
	NotFound    = "not_found"    // no such image, file or repository
	Busy        = "busy"         // the store or the ingest lock is held by another process
	NoSpace     = "no_space"     // not enough free space
	Auth        = "auth"         // a registry refused the credentials or the access
	Decrypt     = "decrypt"      // encrypted input: no identity given, none matches, or the ciphertext failed authentication
	Other       = "other"
)

// All lists every code, in the order docs/json.md documents them.
var All = []string{Signature, Digest, Truncated, Malformed, UnsafePath, MissingBase, MissingBlob, NotFound, Busy, NoSpace, Auth, Decrypt, Other}

var table = []struct {
	code string
	errs []error
}{
	// Order matters where an error wraps several sentinels: the more specific first.
	{MissingBase, []error{bundle.ErrMissingBase}},
	{Signature, []error{bundle.ErrSignature, verify.ErrUnsigned, verify.ErrNoTrustedKeys, verify.ErrNoValidSignature,
		verify.ErrThreshold, verify.ErrMisconfigured, verify.ErrUntrustedSigner, verify.ErrBadSignature,
		verify.ErrDigestMismatch, verify.ErrMalformedSignature}},
	{Truncated, []error{bundle.ErrTruncated}},
	{Digest, []error{bundle.ErrDigest, bundle.ErrSize, store.ErrDigestMismatch, store.ErrSizeMismatch}},
	{UnsafePath, []error{bundle.ErrUnsafePath, local.ErrSymlink, local.ErrNotRegular, local.ErrLinked, transport.ErrBadName}},
	{Malformed, []error{bundle.ErrNotBundle, bundle.ErrVersion, bundle.ErrMalformed, bundle.ErrTooLarge, bundle.ErrImage}},
	{MissingBlob, []error{store.ErrMissingBlob}},
	{NoSpace, []error{transport.ErrInsufficientSpace}},
	{Busy, []error{store.ErrBusy}},
	{Auth, []error{registry.ErrUnauthorized, registry.ErrDenied}},
	{Decrypt, []error{seal.ErrEncrypted, seal.ErrNoMatch, seal.ErrHeader, seal.ErrCiphertext}},
	{NotFound, []error{store.ErrNotFound, store.ErrNoStore, registry.ErrNotFound}},
}

// Of returns the code of err: the first code whose sentinel errors.Is finds in err's
// chain, else Other. Of(nil) is "".
func Of(err error) string {
	if err == nil {
		return ""
	}
	for _, t := range table {
		for _, s := range t.errs {
			if errors.Is(err, s) {
				return t.code
			}
		}
	}
	return Other
}
