package transport

import (
	"context"
	"errors"
	"fmt"

	"github.com/imgx/imgx/progress"
)

var (
	// ErrInsufficientSpace: the target has less free space than the upload
	// needs. It is permanent.
	ErrInsufficientSpace = errors.New("insufficient space")
	// ErrPasswordInURL: a location carried a password. Passwords come from
	// ~/.netrc or the environment, never from the command line, where
	// other users can read them.
	ErrPasswordInURL = errors.New("password in URL")
	// ErrBadLocation: a location could not be parsed.
	ErrBadLocation = errors.New("bad location")
	// ErrBadName: a name is absolute, empty or leaves the backend root.
	ErrBadName = errors.New("bad name")
	// ErrClosed: the upload or backend was already closed.
	ErrClosed = errors.New("already closed")
	// ErrResumeState: the resume state of a partial upload is unreadable.
	ErrResumeState = errors.New("unreadable resume state")
)

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err so that [IsPermanent] reports true. A nil err stays
// nil. Backends use it for the cases their own classification misses.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	var p *permanentError
	if errors.As(err, &p) {
		return err
	}
	return &permanentError{err}
}

// IsPermanent reports whether err was marked with [Permanent], is a
// cancelled or expired context, or is one of this package's permanent
// sentinels. Backends extend this in their own IsPermanent.
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	var p *permanentError
	return errors.As(err, &p) ||
		errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, ErrInsufficientSpace) ||
		errors.Is(err, ErrBadName) ||
		errors.Is(err, ErrClosed)
}

// InsufficientSpaceError reports how much an upload needed and how much
// was free.
type InsufficientSpaceError struct {
	Where      string
	Need, Free int64
}

func (e *InsufficientSpaceError) Error() string {
	return fmt.Sprintf("%s: needs %s, %s free", e.Where, progress.Size(e.Need), progress.Size(e.Free))
}

// Unwrap makes errors.Is(err, ErrInsufficientSpace) true.
func (e *InsufficientSpaceError) Unwrap() error { return ErrInsufficientSpace }
