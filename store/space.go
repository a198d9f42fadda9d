package store

import "golang.org/x/sys/unix"

// FreeSpace reports the bytes available to this user in the store's filesystem, for
// callers that check before writing gigabytes rather than fail halfway.
func (s *Store) FreeSpace() (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(s.root, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}
