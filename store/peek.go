package store

import (
	"os"
	"path/filepath"
	"slices"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// PeekNames lists the familiar names of the tagged images in the store at root, sorted
// and without repeats, for shell completion. It changes nothing on disk: when root does
// not hold a complete imgx store (one Open would add to) it returns nil, as it does on any
// error, since completion must never create a store or fail.
func PeekNames(root string) []string {
	for _, p := range []string{ocispec.ImageLayoutFile, ocispec.ImageIndexFile, "blobs/sha256", stagedDir, ingestDir, lockFile, liveFile} {
		if _, err := os.Lstat(filepath.Join(root, p)); err != nil {
			return nil
		}
	}
	s, err := Open(root)
	if err != nil {
		return nil
	}
	entries, err := s.Entries()
	if err != nil {
		return nil
	}
	var names []string
	for _, en := range entries {
		if !en.Ref.IsZero() {
			names = append(names, en.Ref.Familiar())
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}
