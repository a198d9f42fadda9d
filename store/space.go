package store

import "github.com/imgx/imgx/internal/fsstat"

// FreeSpace reports the bytes available to this user in the store's filesystem, for
// callers that check before writing gigabytes rather than fail halfway.
func (s *Store) FreeSpace() (int64, error) { return fsstat.Free(s.root) }
