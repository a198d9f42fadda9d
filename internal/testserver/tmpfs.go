package testserver

import (
	"fmt"
	"os/exec"
	"testing"
)

// SmallDisk mounts a tmpfs of the given size ("2m") on a temp dir and unmounts it when t
// ends. Mounting needs root with CAP_SYS_ADMIN, so it is gated like RequireCapability: it
// skips t unless IMGX_REAL_TESTS=1, and fails t under the switch when it cannot mount.
func SmallDisk(t testing.TB, size string) string {
	t.Helper()
	const how = "run the tests as root, in a container with CAP_SYS_ADMIN (docker run --privileged)"
	RequireCapability(t, "a tmpfs mount", Root(), how)
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		RequireCapability(t, "a tmpfs mount", fmt.Errorf("mount: %v: %s", err, out), how)
	}
	// Lazy: a server process may still be leaving the directory.
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}
