package main

// The --json output of every command. Library results are converted here into documents
// with one key style (snake_case), [] rather than null for every list, errors as
// {"error": text, "code": errcode}, structured values (a base is {name, digest, sequence})
// and schema_version at the top level. docs/json.md documents each document; the tests
// check every key printed against it. Library types keep their own tags: only this file and
// the json_*.go files decide what scripts see.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/imgx/imgx/internal/errcode"
)

// schemaVersion is the version of every document below: raised when a key is removed,
// renamed or changes type; new keys do not raise it.
const schemaVersion = 1

// jsonDoc is embedded first in every top-level document.
type jsonDoc struct {
	SchemaVersion int `json:"schema_version"`
}

var doc = jsonDoc{SchemaVersion: schemaVersion}

// printJSON prints the --json document v and notes that one was printed.
func (e *Env) printJSON(v any) error {
	e.jsonDone = true
	return writeJSON(e.Stdout, v)
}

// failureJSON is what a --json command prints when it fails before its document: the
// error and its code, so that a script reading stdout learns why (the error is on
// stderr too, as always).
type failureJSON struct {
	jsonDoc
	jsonError
}

// jsonRun wraps the Run of a command with --json (*on): when run fails without having
// printed its document, it prints a failureJSON instead. Interruptions and usage errors
// print none: the first is no result, the second is the caller's mistake, on stderr.
func jsonRun(on *bool, run func(ctx context.Context, e *Env, args []string) error) func(ctx context.Context, e *Env, args []string) error {
	return func(ctx context.Context, e *Env, args []string) error {
		err := run(ctx, e, args)
		var usage usageError
		if err != nil && *on && !e.jsonDone && ctx.Err() == nil && !errors.As(err, &usage) {
			if jerr := e.printJSON(failureJSON{doc, errJSON(err)}); jerr != nil {
				return errors.Join(err, jerr)
			}
		}
		return err
	}
}

// jsonError is an error as JSON: its text, and a code scripts can branch on.
type jsonError struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

func errJSON(err error) jsonError { return jsonError{Error: err.Error(), Code: errcode.Of(err)} }

// nonNil returns s, or an empty slice for nil, so that lists print [] and never null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// writeJSON prints v as indented JSON: the --json output of every command.
func writeJSON(w io.Writer, v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(escapeInvisible(b.Bytes()))
	return err
}

// escapeInvisible rewrites the non-printable runes encoding/json leaves raw (bidirectional
// overrides, zero-width and tag characters: strings from images and bundles) as \uXXXX
// escapes, so that they cannot reorder or hide text on a terminal. Outside strings JSON
// is ASCII, so every such rune is inside a string, where the escape means the same rune.
func escapeInvisible(js []byte) []byte {
	var out []byte
	for i := 0; i < len(js); {
		r, n := utf8.DecodeRune(js[i:])
		if r < utf8.RuneSelf || strconv.IsPrint(r) || r == utf8.RuneError && n == 1 {
			if out != nil {
				out = append(out, js[i:i+n]...)
			}
			i += n
			continue
		}
		if out == nil {
			out = append(make([]byte, 0, len(js)+64), js[:i]...)
		}
		units := []uint16{uint16(r)}
		if r > 0xffff {
			a, b := utf16.EncodeRune(r)
			units = []uint16{uint16(a), uint16(b)}
		}
		for _, u := range units {
			out = fmt.Appendf(out, `\u%04x`, u)
		}
		i += n
	}
	if out == nil {
		return js
	}
	return out
}
