package main

import (
	"errors"
	"fmt"

	"github.com/imgx/imgx/internal/safetext"
)

// usageError marks a mistake in how imgx was called (exit code 2).
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// hintError attaches a hint line to an error.
type hintError struct {
	err  error
	hint string
}

func (h hintError) Error() string { return h.err.Error() }
func (h hintError) Unwrap() error { return h.err }

func withHint(err error, hint string) error {
	if err == nil || hint == "" {
		return err
	}
	return hintError{err, hint}
}

func fail(e *Env, err error) int {
	fmt.Fprintf(e.stderr(), "imgx: error: %s\n", safetext.Lines(err.Error())) // errors quote outside names
	var h hintError
	if errors.As(err, &h) {
		fmt.Fprintf(e.stderr(), "imgx: hint: %s\n", h.hint)
	}
	var u usageError
	if errors.As(err, &u) {
		return exitUsage
	}
	return exitFailure
}

// exitError ends a run with a code and no further message (the message, if any, has
// been printed).
type exitError struct{ code int }

func (x exitError) Error() string { return fmt.Sprintf("exit %d", x.code) }
