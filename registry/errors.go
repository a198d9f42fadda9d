package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"

	ggcrtransport "github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/imgx/imgx/store"
	"github.com/imgx/imgx/transport"
)

var (
	// ErrUnauthorized: the registry wants credentials, or refused the ones imgx found.
	ErrUnauthorized = errors.New("authentication failed")
	// ErrDenied: the credentials were accepted but do not allow the operation.
	ErrDenied = errors.New("access denied")
	// ErrNotFound: the registry has no such repository, tag or manifest.
	ErrNotFound = errors.New("not found")
	// ErrInsufficientSpace: the store's filesystem cannot hold the blobs to download
	// (the transport package's sentinel, so one errors.Is check covers both).
	ErrInsufficientSpace = transport.ErrInsufficientSpace
	// ErrUnsupported: the image uses something imgx does not handle (schema 1 manifests,
	// foreign layers).
	ErrUnsupported = errors.New("unsupported")
)

// classify adds one of the sentinels above to what go-containerregistry returned, so that
// callers can give advice without parsing messages.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var te *ggcrtransport.Error
	if !errors.As(err, &te) {
		return err
	}
	kind := error(nil)
	switch te.StatusCode {
	case http.StatusUnauthorized:
		kind = ErrUnauthorized
	case http.StatusForbidden:
		kind = ErrDenied
	case http.StatusNotFound:
		kind = ErrNotFound
	}
	for _, d := range te.Errors {
		switch d.Code {
		case ggcrtransport.UnauthorizedErrorCode:
			kind = ErrUnauthorized
		case ggcrtransport.DeniedErrorCode:
			kind = ErrDenied
		case ggcrtransport.ManifestUnknownErrorCode, ggcrtransport.NameUnknownErrorCode, ggcrtransport.BlobUnknownErrorCode:
			kind = ErrNotFound
		}
	}
	if kind == nil || errors.Is(err, kind) {
		return err
	}
	return fmt.Errorf("%w: %w", kind, err)
}

// transient reports whether retrying err may succeed: dropped connections, timeouts,
// truncated bodies and the registry statuses that mean "try later". Digest mismatches,
// authentication failures and cancelled contexts are final.
func transient(err error) bool {
	switch {
	case err == nil,
		errors.Is(err, context.Canceled),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, store.ErrDigestMismatch),
		errors.Is(err, store.ErrSizeMismatch),
		errors.Is(err, ErrPlainHTTP):
		return false
	}
	var te *ggcrtransport.Error
	if errors.As(err, &te) {
		return te.Temporary()
	}
	// A bare io.EOF that reaches here is a connection closed before the
	// reply (readers handle the normal end of a body before asking).
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne)
}
