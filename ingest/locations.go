package ingest

import (
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"github.com/imgx/imgx/transport"
)

// LocationError is a set of locations [Locations] refuses: one is malformed or "-", or
// they are not on one server. It is the caller's mistake, not the carrier's.
type LocationError struct{ Err error }

// Error is the cause's message.
func (e *LocationError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *LocationError) Unwrap() error { return e.Err }

// Locations parses the source directory and the optional done and failed directories (""
// for none), checks that they are on one server (bundles are moved by renaming, never
// copied), and returns a location for their deepest common parent, to open with
// dial.OpenDir, with each one's path relative to it as [Options.Dir], DoneDir and
// FailedDir ("" for an empty argument). Local paths are made absolute first.
func Locations(src, done, failed string) (root transport.Location, rel [3]string, err error) {
	var locs []transport.Location
	for i, s := range []string{src, done, failed} {
		if s == "" {
			locs = append(locs, transport.Location{})
			continue
		}
		l, err := transport.ParseLocation(s)
		if err != nil {
			return l, rel, &LocationError{err}
		}
		if l.Scheme == transport.Stdio {
			return l, rel, &LocationError{errors.New("ingest needs directories, not -")}
		}
		if i > 0 && (l.Scheme != locs[0].Scheme || l.Host != locs[0].Host || l.Port != locs[0].Port || l.User != locs[0].User) {
			return l, rel, &LocationError{fmt.Errorf("%s is not on the same server as %s: bundles are moved by renaming", s, src)}
		}
		if l.Scheme == transport.File {
			abs, err := filepath.Abs(l.Path)
			if err != nil {
				return l, rel, err
			}
			l.Path = abs
		}
		l.Path = strings.TrimSuffix(l.Path, "/")
		locs = append(locs, l)
	}
	dir := locs[0].Path
	for _, l := range locs[1:] {
		if l.Scheme == "" {
			continue
		}
		for !within(l.Path, dir) {
			dir = path.Dir(dir)
		}
	}
	for i, l := range locs {
		if l.Scheme != "" {
			rel[i] = strings.TrimPrefix(strings.TrimPrefix(l.Path, dir), "/")
		}
	}
	root = locs[0]
	root.Path = strings.TrimSuffix(dir, "/") + "/"
	if dir == "" || dir == "." {
		root.Path = "./"
	}
	return root, rel, nil
}

// within reports whether p is dir or below it.
func within(p, dir string) bool {
	return dir == "" || dir == "/" || dir == "." || p == dir || strings.HasPrefix(p, dir+"/")
}
