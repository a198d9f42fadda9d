package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/imgx/imgx/internal/safetext"
	"github.com/imgx/imgx/progress"
	"github.com/imgx/imgx/store"
)

// Env is what a command may touch of the outside world.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	storeDir       string
	st             *store.Store
	jsonDone       bool      // a --json document went to Stdout (json.go)
	bar            io.Writer // the progress bar drawn on Stderr, if any (track)
}

// track notes the progress renderer drawing on Stderr: while it is a bar, warnings and
// errors go through it, which erases the bar's line first so they do not run into it.
func (e *Env) track(p progress.Progress) {
	e.bar = nil
	if b, ok := p.(*progress.Bar); ok {
		e.bar = b
	}
}

// stderr is where warnings and errors go: Stderr, through the bar when one is drawn.
func (e *Env) stderr() io.Writer {
	if e.bar != nil {
		return e.bar
	}
	return e.Stderr
}

// Store opens the local store (--store, $IMGX_STORE, or the default location) on first use.
// It must exist: only the commands that add images create one (CreateStore), so that a
// mistyped path or an unmounted disk fails instead of reading as an empty, healthy store.
func (e *Env) Store() (*store.Store, error) { return e.openStore(false) }

// CreateStore is Store for the commands that add images: it creates an empty store.
func (e *Env) CreateStore() (*store.Store, error) { return e.openStore(true) }

func (e *Env) openStore(create bool) (*store.Store, error) {
	if e.st != nil {
		return e.st, nil
	}
	dir := e.storeDir
	if dir == "" {
		d, err := store.DefaultRoot(os.Getenv)
		if err != nil {
			return nil, err
		}
		dir = d
	}
	open := store.OpenExisting
	if create {
		open = store.Open
	}
	s, err := open(dir)
	if errors.Is(err, store.ErrNoStore) {
		return nil, withHint(err, "check --store and IMGX_STORE; 'imgx import', 'load', 'pull' and 'ingest' create a store")
	}
	if err != nil {
		return nil, err
	}
	e.st = s
	return s, nil
}

// Warnf prints a warning on stderr; warnings never change the exit code. Control
// characters are escaped: warnings quote names from carriers and archives.
func (e *Env) Warnf(format string, args ...any) {
	fmt.Fprintf(e.stderr(), "imgx: warning: %s\n", safetext.Lines(fmt.Sprintf(format, args...)))
}
