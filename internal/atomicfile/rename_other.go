//go:build !linux

package atomicfile

import (
	"os"

	"golang.org/x/sys/unix"
)

// renameNoReplace: without renameat2 the caller falls back to a check and a rename.
func renameNoReplace(*os.File, string, *os.File, string) error { return unix.ENOSYS }
