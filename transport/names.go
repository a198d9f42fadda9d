package transport

import (
	"fmt"
	"path"
	"strings"
	"unicode/utf8"
)

const (
	// TempSuffix ends the name of an unfinished upload: .NAME.imgx-part.
	TempSuffix = ".imgx-part"
	// StateSuffix ends the name of its resume state: .NAME.imgx-part.json.
	StateSuffix = TempSuffix + ".json"

	// MaxNameBytes bounds one element of a name, as most filesystems do.
	MaxNameBytes = 255
)

// CheckEntryName returns an error wrapping [ErrBadName] unless name can be
// one element of a path: what a directory listing, a volume index or a
// server returns as a file name. Such names come from the carrier and are
// attacker-controlled; only names that pass become paths. It refuses the
// empty name, "." and "..", separators ('/' and '\\'), NUL and every other
// control character (a newline in a name would forge lines in logs and
// reason files), invalid UTF-8 and names longer than [MaxNameBytes].
func CheckEntryName(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return fmt.Errorf("name %q: not a file name: %w", name, ErrBadName)
	case len(name) > MaxNameBytes:
		return fmt.Errorf("name %.40q...: longer than %d bytes: %w", name, MaxNameBytes, ErrBadName)
	case strings.ContainsAny(name, "/\\"):
		return fmt.Errorf("name %q: contains a path separator: %w", name, ErrBadName)
	case !utf8.ValidString(name):
		return fmt.Errorf("name %q: not valid UTF-8: %w", name, ErrBadName)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return fmt.Errorf("name %q: control character: %w", name, ErrBadName)
		}
	}
	return nil
}

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
	case IsTempName(path.Base(name)):
		return fmt.Errorf("name %q: reserved for temporary files: %w", name, ErrBadName)
	}
	for _, elem := range strings.Split(name, "/") {
		if err := CheckEntryName(elem); err != nil {
			return fmt.Errorf("name %q: %w", name, err)
		}
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
