package serve

import (
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
)

// kind is what a request asks for.
type kind int

const (
	kindNone kind = iota
	kindPing
	kindCatalog
	kindTags
	kindManifest
	kindBlob
	kindReferrers
	kindUpload // /blobs/uploads/…: a push, refused
)

// route is a parsed request path. Only what validated survives into it: name matched
// the repository grammar, ref is a valid tag or a parsed digest, dgst a parsed digest
// of a supported algorithm.
type route struct {
	kind kind
	name string
	tag  string
	dgst digest.Digest
}

// routeError is a request path that names something invalid: status and spec code.
type routeError struct {
	status int
	code   string
	msg    string
}

func (e *routeError) Error() string { return e.msg }

// maxPath bounds the request path parsed.
const maxPath = 4096

// parseRoute parses a request path. rawPath is the path as sent (URL.EscapedPath):
// percent-encoding is refused outright, since no valid name, tag or digest needs it, and
// an encoded slash or dot is a trick, not a name.
func parseRoute(rawPath string) (route, *routeError) {
	notFound := &routeError{404, codeUnsupported, "not an OCI distribution endpoint"}
	if len(rawPath) > maxPath {
		return route{}, &routeError{414, codeNameInvalid, "path too long"}
	}
	if strings.ContainsAny(rawPath, "%\\\x00") {
		return route{}, &routeError{400, codeNameInvalid, "escaped or control characters in the path"}
	}
	switch rawPath {
	case "/v2", "/v2/":
		return route{kind: kindPing}, nil
	case "/v2/_catalog":
		return route{kind: kindCatalog}, nil
	}
	rest, ok := strings.CutPrefix(rawPath, "/v2/")
	if !ok {
		return route{}, notFound
	}
	parts := strings.Split(rest, "/")
	for i, p := range parts {
		// Dot segments never name anything; an empty one only ends an upload URL.
		if p == "." || p == ".." || p == "" && i != len(parts)-1 {
			return route{}, &routeError{400, codeNameInvalid, "empty or dot segment in the path"}
		}
	}
	n := len(parts)
	if n < 3 {
		return route{}, notFound
	}
	var rt route
	var nameParts []string
	switch {
	case parts[n-2] == "tags" && parts[n-1] == "list":
		rt.kind, nameParts = kindTags, parts[:n-2]
	case parts[n-2] == "manifests":
		rt.kind, nameParts = kindManifest, parts[:n-2]
	case parts[n-2] == "blobs":
		rt.kind, nameParts = kindBlob, parts[:n-2]
	case parts[n-2] == "referrers":
		rt.kind, nameParts = kindReferrers, parts[:n-2]
	default:
		// POST /v2/NAME/blobs/uploads/ and PATCH/PUT …/blobs/uploads/ID.
		for i := n - 2; i >= 1; i-- {
			if parts[i] == "uploads" && parts[i-1] == "blobs" {
				rt.kind, nameParts = kindUpload, parts[:i-1]
				break
			}
		}
		if rt.kind == kindNone {
			return route{}, notFound
		}
	}
	if len(nameParts) == 0 {
		return route{}, notFound
	}
	rt.name = strings.Join(nameParts, "/")
	if !validName(rt.name) {
		return route{}, &routeError{400, codeNameInvalid, "invalid repository name"}
	}
	last := parts[n-1]
	switch rt.kind {
	case kindManifest:
		if strings.Contains(last, ":") {
			d, err := parseDigest(last)
			if err != nil {
				return route{}, &routeError{400, codeDigestInvalid, err.Error()}
			}
			rt.dgst = d
		} else if validTag(last) {
			rt.tag = last
		} else {
			return route{}, &routeError{400, codeTagInvalid, "invalid tag"}
		}
	case kindBlob, kindReferrers:
		if rt.kind == kindBlob && last == "uploads" {
			rt.kind = kindUpload
			break
		}
		d, err := parseDigest(last)
		if err != nil {
			return route{}, &routeError{400, codeDigestInvalid, err.Error()}
		}
		rt.dgst = d
	}
	return rt, nil
}

// parseDigest parses a digest of an algorithm the store can hold (sha256, sha512):
// digest.Parse checks the encoded part's characters and length for the algorithm.
func parseDigest(s string) (digest.Digest, error) {
	d, err := digest.Parse(s)
	if err != nil {
		return "", fmt.Errorf("invalid digest: %w", err)
	}
	if a := d.Algorithm(); a != digest.SHA256 && a != digest.SHA512 {
		return "", fmt.Errorf("unsupported digest algorithm %q", a)
	}
	return d, nil
}
