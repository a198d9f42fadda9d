package testserver

import (
	"os"
	"os/exec"
	"testing"
)

// SmallDisk mounts a tmpfs of the given size ("2m") on a temp dir and
// unmounts it when t ends. It skips t where mounting is not permitted
// (not root, or no CAP_SYS_ADMIN in a container).
func SmallDisk(t testing.TB, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount tmpfs: %v: %s", err, out)
	}
	// Lazy: a server process may still be leaving the directory.
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}
