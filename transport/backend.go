package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// DefaultIdleTimeout is how long a remote backend waits for a silent
// connection (nothing received, keepalives unanswered) before it closes it
// and the retry layer reconnects.
const DefaultIdleTimeout = 30 * time.Second

// Backend is a place where bundles are stored: a directory on a local disk
// or on a server. Names are slash-separated paths relative to the backend's
// root ("bundle.imgx", "done/bundle.imgx"); [CheckName] says which are valid.
//
// Every I/O method takes ctx first. A context that is already done makes the
// method return its error (wrapped) without starting the operation; a
// context cancelled during an operation ends it at the next chunk.
//
// A Backend is safe for concurrent use by several goroutines.
type Backend interface {
	// Location describes the backend's root for messages, without any
	// secret ("sftp://alice@host/srv/bundles").
	Location() string

	// Create starts, or resumes, an upload of name. The data goes to a
	// temporary file beside the target (see the package doc); name does
	// not exist until Commit succeeds and is replaced atomically then, so
	// a concurrent Stat or List sees either the old file or the new one.
	//
	// If a temporary file is left from an earlier upload, the Upload's
	// Offset is its size and State the last checkpoint saved with it; the
	// caller truncates what it cannot vouch for. The parent directory must
	// exist: a missing one is a permanent error wrapping fs.ErrNotExist.
	// The Upload uses ctx for all its writes.
	Create(ctx context.Context, name string) (Upload, error)

	// Open reads name from byte offset on. An offset at or past the end
	// gives a reader that returns io.EOF at once. A missing name returns
	// an error wrapping fs.ErrNotExist. The reader is bound to ctx.
	Open(ctx context.Context, name string, offset int64) (io.ReadCloser, error)

	// Stat describes name. A missing name returns an error wrapping
	// fs.ErrNotExist. Temporary names are refused like any bad name.
	Stat(ctx context.Context, name string) (FileInfo, error)

	// List calls fn for each entry of directory dir ("" is the root), in
	// no promised order, hiding temporary upload files. Subdirectories
	// are listed with IsDir set, not entered. If fn returns an error List
	// stops and returns it. A missing dir wraps fs.ErrNotExist.
	List(ctx context.Context, dir string, fn func(FileInfo) error) error

	// Remove deletes the file name. A missing name wraps fs.ErrNotExist,
	// so callers that want idempotence test with errors.Is.
	Remove(ctx context.Context, name string) error

	// Rename moves oldname to newname (used to move processed bundles to
	// a done/ directory). It does not replace an existing newname: that
	// returns an error wrapping fs.ErrExist. The target directory is
	// created when missing. Atomic where the server renames atomically.
	Rename(ctx context.Context, oldname, newname string) error

	// IsNotExist reports whether err means a missing file or directory.
	IsNotExist(err error) bool

	// IsPermanent reports whether err cannot go away by trying again:
	// authentication, host key, permission, missing file, full disk.
	// Cancelled contexts are permanent too.
	IsPermanent(err error) bool

	// Close releases connections. Uploads still open are aborted.
	Close() error
}

// Upload is an upload in progress, returned by [Backend.Create]. Write
// appends at Offset. Exactly one of Commit, Abort or Discard ends it; after
// that every method returns an error. An Upload is not safe for concurrent
// use.
type Upload interface {
	// Write appends p to the temporary file. On a server the bytes may
	// still be in flight when Write returns; Checkpoint and Commit wait.
	Write(p []byte) (int, error)

	// Offset is the size of the temporary file: what an earlier upload
	// left plus what was written since.
	Offset() int64

	// State is the resume state last stored with Checkpoint by an earlier
	// upload of the same name, or nil.
	State() []byte

	// Truncate cuts the temporary file to size bytes (at most Offset) so
	// that writing continues there. Only allowed before the first Write.
	Truncate(ctx context.Context, size int64) error

	// Checkpoint waits until the bytes written so far have reached the
	// server and then stores state beside the temporary file, replacing
	// the previous state. The state must only describe bytes written.
	Checkpoint(ctx context.Context, state []byte) error

	// Commit flushes and, where the backend can, syncs the temporary file,
	// renames it to the final name (replacing an older file) and removes
	// the state. On error the temporary file is kept for a resume.
	Commit(ctx context.Context) error

	// Abort stops the upload and keeps the temporary file and state so a
	// later Create resumes it.
	Abort(ctx context.Context) error

	// Discard stops the upload and removes the temporary file and state.
	Discard(ctx context.Context) error
}

// FileInfo describes a file or directory of a backend.
type FileInfo struct {
	Name    string // base name
	Size    int64
	ModTime time.Time // zero when the server does not say
	IsDir   bool
}

// SpaceReporter is implemented by backends that can tell the free space of
// a directory, so an upload of known size fails before it starts instead
// of when the disk is full.
type SpaceReporter interface {
	// FreeSpace returns the bytes available to this user in dir.
	FreeSpace(ctx context.Context, dir string) (int64, error)
}

// Unwrapper is implemented by decorators (retry, ...) to reach the
// backend they wrap.
type Unwrapper interface {
	Unwrap() Backend
}

// CheckTruncate holds the preconditions every [Upload.Truncate] enforces: the upload is
// still open, nothing was written yet, and size is within [0, offset].
func CheckTruncate(done, written bool, size, offset int64) error {
	switch {
	case done:
		return ErrClosed
	case written:
		return errors.New("truncate after write")
	case size > offset || size < 0:
		return fmt.Errorf("truncate to %d: beyond offset %d", size, offset)
	}
	return nil
}
