package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
)

// Records are small facts committed together with a transaction, such as "bundle
// sha256:… was loaded": the nightly ingest job uses them to load each bundle exactly once.
// They live in .imgx/records/KIND/KEY, outside the OCI layout, so other tools ignore them.
const recordsDir = ".imgx/records"

var recordName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,127}$`)

// Record stores data under kind/key when the transaction commits (written after
// index.json, under the same lock). Kind and key are lower-case names such as "bundles"
// and a digest's hex.
func (tx *Tx) Record(kind, key string, data []byte) error {
	if !recordName.MatchString(kind) || !recordName.MatchString(key) {
		return fmt.Errorf("record %s/%s: invalid name", kind, key)
	}
	tx.mu.Lock()
	defer tx.mu.Unlock()
	tx.records = append(tx.records, record{kind, key, data})
	return nil
}

type record struct {
	kind, key string
	data      []byte
}

// GetRecord returns the data recorded under kind/key, or an error wrapping ErrNotFound.
func (s *Store) GetRecord(kind, key string) ([]byte, error) {
	if !recordName.MatchString(kind) || !recordName.MatchString(key) {
		return nil, fmt.Errorf("record %s/%s: invalid name", kind, key)
	}
	data, err := os.ReadFile(filepath.Join(s.root, recordsDir, kind, key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("record %s/%s: %w", kind, key, ErrNotFound)
	}
	return data, err
}
