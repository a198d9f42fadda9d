package archive

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/imgx/imgx/internal/testutil"
)

// TestHostileLayoutDir: issue 11 defect 8. A layout directory whose blobs/ (or
// blobs/sha256/) is a symbolic link to a directory outside it is refused, even when the
// outside blobs are exactly the ones the index names; a FIFO where a blob should be is
// refused without blocking. The store stays as it was.
func TestHostileLayoutDir(t *testing.T) {
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, dir, outside string)
	}{
		{"symlinked blobs", func(t *testing.T, dir, outside string) {
			os.Rename(filepath.Join(dir, "blobs"), filepath.Join(outside, "blobs"))
			os.Symlink(filepath.Join(outside, "blobs"), filepath.Join(dir, "blobs"))
		}},
		{"relative symlinked blobs", func(t *testing.T, dir, outside string) {
			os.Rename(filepath.Join(dir, "blobs"), filepath.Join(outside, "blobs"))
			rel, _ := filepath.Rel(dir, filepath.Join(outside, "blobs"))
			os.Symlink(rel, filepath.Join(dir, "blobs"))
		}},
		{"symlinked blobs/sha256", func(t *testing.T, dir, outside string) {
			os.Rename(filepath.Join(dir, "blobs", "sha256"), filepath.Join(outside, "sha256"))
			os.Symlink(filepath.Join(outside, "sha256"), filepath.Join(dir, "blobs", "sha256"))
		}},
		{"fifo blob", func(t *testing.T, dir, outside string) {
			ents, _ := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
			for _, e := range ents {
				p := filepath.Join(dir, "blobs", "sha256", e.Name())
				os.Remove(p)
				if err := syscall.Mkfifo(p, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, outside := t.TempDir(), t.TempDir()
			untar(t, ociArchive(t, false, appImage(t)), dir)
			tc.plant(t, dir, outside)
			s := usedStore(t)
			before, out := testutil.TreeHash(t, s.Root()), testutil.TreeHash(t, outside)
			done := make(chan error, 1)
			go func() {
				_, err := LoadDir(context.Background(), s, dir, LoadOptions{})
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("LoadDir blocked")
			}
			if err == nil {
				t.Fatal("loaded through a link out of the directory")
			}
			if !errors.Is(err, ErrBadEntry) && !errors.Is(err, ErrUnsafeEntry) {
				t.Errorf("error %v, want ErrBadEntry or ErrUnsafeEntry", err)
			}
			if after := testutil.TreeHash(t, s.Root()); after != before {
				t.Errorf("store changed")
			}
			if after := testutil.TreeHash(t, outside); after != out {
				t.Errorf("outside changed")
			}
		})
	}
}
