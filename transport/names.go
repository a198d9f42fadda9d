package transport

import (
	"fmt"
	"path"
	"strings"
)

const (
	// TempSuffix ends the name of an unfinished upload: .NAME.imgx-part.
	TempSuffix = ".imgx-part"
	// StateSuffix ends the name of its resume state: .NAME.imgx-part.json.
	StateSuffix = TempSuffix + ".json"
)

// CheckName returns an error wrapping [ErrBadName] unless name is a clean,
// relative, slash-separated path that stays inside the backend root and is
// not a temporary name.
func CheckName(name string) error {
	switch {
	case name == "" || name == ".":
		return fmt.Errorf("name %q: empty: %w", name, ErrBadName)
	case strings.HasPrefix(name, "/"):
		return fmt.Errorf("name %q: absolute: %w", name, ErrBadName)
	case path.Clean(name) != name:
		return fmt.Errorf("name %q: not clean (want %q): %w", name, path.Clean(name), ErrBadName)
	case name == ".." || strings.HasPrefix(name, "../"):
		return fmt.Errorf("name %q: escapes the root: %w", name, ErrBadName)
	case strings.ContainsAny(name, "\x00\r\n"):
		return fmt.Errorf("name %q: control character: %w", name, ErrBadName)
	case IsTempName(path.Base(name)):
		return fmt.Errorf("name %q: reserved for temporary files: %w", name, ErrBadName)
	}
	return nil
}

// CheckDir is CheckName for a directory, where "" means the root.
func CheckDir(dir string) error {
	if dir == "" {
		return nil
	}
	return CheckName(dir)
}

// TempName is the temporary file an upload of name writes to.
func TempName(name string) string {
	dir, base := path.Split(name)
	return dir + "." + base + TempSuffix
}

// StateName is the file holding the resume state of an upload of name.
func StateName(name string) string {
	dir, base := path.Split(name)
	return dir + "." + base + StateSuffix
}

// IsTempName reports whether the base name belongs to an unfinished upload
// (its data or its state) and is therefore hidden from listings.
func IsTempName(base string) bool {
	return strings.HasPrefix(base, ".") &&
		(strings.HasSuffix(base, TempSuffix) || strings.HasSuffix(base, StateSuffix))
}
