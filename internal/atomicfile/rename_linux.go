package atomicfile

import (
	"os"

	"golang.org/x/sys/unix"
)

func renameNoReplace(from *os.File, oldBase string, to *os.File, newBase string) error {
	_, err := retryEINTR(func() (int, error) {
		return 0, unix.Renameat2(int(from.Fd()), oldBase, int(to.Fd()), newBase, unix.RENAME_NOREPLACE)
	})
	return err
}
