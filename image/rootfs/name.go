package rootfs

import (
	"fmt"
	"path"
	"strings"
)

// CheckEntryName validates a tar entry name (or hard link target) and returns
// it normalised: leading "/" stripped, cleaned, no trailing slash, "." for the
// root. It rejects empty names and NUL bytes ([ErrInvalidName]) and names that
// climb above the root after cleaning ([ErrUnsafePath]).
func CheckEntryName(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("empty name: %w", ErrInvalidName)
	}
	if strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("name contains NUL: %w", ErrInvalidName)
	}
	clean := path.Clean(strings.TrimLeft(name, "/"))
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", ErrUnsafePath
	}
	return clean, nil
}
