// Package fsstat reads what statfs(2) says about the filesystem holding a path: the
// store and the local transport both check free space before writing gigabytes.
package fsstat

import "golang.org/x/sys/unix"

// Free returns the bytes available to this user on the filesystem holding dir.
func Free(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// Type returns the filesystem's magic number (e.g. 0x4d44 for FAT).
func Type(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Type), nil
}
