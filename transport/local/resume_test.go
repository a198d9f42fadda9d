package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/imgx/imgx/transport"
	"github.com/imgx/imgx/transport/transporttest"
)

// eioBackend is a USB stick pulled out mid-write: after `after` bytes every write and
// sync fails with EIO.
type eioBackend struct {
	*Backend
	after int64
}

func (b *eioBackend) Create(ctx context.Context, name string) (transport.Upload, error) {
	u, err := b.Backend.Create(ctx, name)
	if err != nil {
		return nil, err
	}
	return &eioUpload{Upload: u, left: b.after, name: b.path(name)}, nil
}

type eioUpload struct {
	transport.Upload
	left int64
	name string
}

func (u *eioUpload) eio() error {
	return transport.Permanent(&fs.PathError{Op: "write", Path: u.name, Err: syscall.EIO})
}

func (u *eioUpload) Write(p []byte) (int, error) {
	if u.left <= 0 {
		return 0, u.eio()
	}
	if int64(len(p)) > u.left {
		n, _ := u.Upload.Write(p[:u.left])
		u.left = 0
		return n, u.eio()
	}
	u.left -= int64(len(p))
	return u.Upload.Write(p)
}

func (u *eioUpload) Checkpoint(ctx context.Context, state []byte) error {
	if u.left <= 0 {
		return u.eio()
	}
	return u.Upload.Checkpoint(ctx, state)
}

func (u *eioUpload) Commit(ctx context.Context) error {
	if u.left <= 0 {
		return u.eio()
	}
	return u.Upload.Commit(ctx)
}

// TestUSBRemovedMidWrite: the filesystem starts returning EIO at 70%: a clear error,
// nothing under the final name; after the stick comes back (with the unsynced tail of
// the partial file lost) the next run resumes and the result is byte-identical.
func TestUSBRemovedMidWrite(t *testing.T) {
	ctx := context.Background()
	data := transporttest.Data(3, 1<<20+777)
	opts := transport.PutOptions{CheckpointInterval: 64 << 10, SaveEvery: 1, Size: int64(len(data))}
	for _, tc := range []struct {
		name  string
		split int64
		tail  string // the partial file that loses its unsynced end
	}{
		{"file", -1, ".x.imgx" + transport.TempSuffix},
		{"fat-volumes", 300 << 10, ".x.imgx.003" + transport.TempSuffix},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			b, err := New(dir, Options{SplitSize: tc.split})
			if err != nil {
				t.Fatal(err)
			}
			_, err = transport.Put(ctx, &eioBackend{Backend: b, after: int64(len(data)) * 7 / 10}, "x.imgx", bytes.NewReader(data), opts)
			if !errors.Is(err, syscall.EIO) || !strings.Contains(err.Error(), "x.imgx") {
				t.Fatalf("put on a failing stick: %v, want an EIO error naming the file", err)
			}
			if _, err := b.Stat(ctx, "x.imgx"); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("something was published: %v", err)
			}
			// The stick comes back: what was not synced is lost.
			p := filepath.Join(dir, tc.tail)
			if fi, err := os.Stat(p); err != nil {
				t.Fatal(err)
			} else {
				os.Truncate(p, fi.Size()-20000)
			}
			res, err := transport.Put(ctx, b, "x.imgx", bytes.NewReader(data), opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("resumed %d of %d bytes", res.Resumed, res.Size)
			if res.Resumed < int64(len(data))/2 || res.Size != int64(len(data)) {
				t.Errorf("resumed %d bytes of %d", res.Resumed, res.Size)
			}
			if got := transporttest.ReadAll(t, b, "x.imgx", 0); !bytes.Equal(got, data) {
				t.Fatal("resumed file differs")
			}
		})
	}
}

// TestResumeByComparison: a local upload interrupted before its first saved checkpoint
// (SIGKILL of a small save, a pulled stick) resumes by comparing the partial file with
// the regenerated source, and keeps exactly the bytes that match: a tail the stick
// garbled is written again, and a partial longer than the source is cut.
func TestResumeByComparison(t *testing.T) {
	ctx := context.Background()
	data := transporttest.Data(5, 900<<10+333)
	for _, split := range []int64{-1, 256 << 10} {
		for _, tc := range []struct {
			name    string
			cut     int64 // bytes the interrupted run wrote
			garble  int64 // offset where the partial file is overwritten, -1 for none
			src     []byte
			resumed int64
		}{
			{"no checkpoint", 700 << 10, -1, data, 700 << 10},
			{"garbled tail", 700 << 10, 600 << 10, data, 600 << 10},
			{"garbled start", 700 << 10, 0, data, 0},
			{"source shorter", 700 << 10, -1, data[:500<<10], 500 << 10},
		} {
			t.Run(fmt.Sprintf("%s/split=%d", tc.name, split), func(t *testing.T) {
				dir := t.TempDir()
				b, err := New(dir, Options{SplitSize: split})
				if err != nil {
					t.Fatal(err)
				}
				opts := transport.PutOptions{} // 8 MiB checkpoints: none is reached
				if _, err := transport.Put(ctx, &eioBackend{Backend: b, after: tc.cut}, "x.imgx", bytes.NewReader(data), opts); !errors.Is(err, syscall.EIO) {
					t.Fatalf("interrupted put: %v", err)
				}
				if tc.garble >= 0 {
					garble(t, dir, split, tc.garble)
				}
				res, err := transport.Put(ctx, b, "x.imgx", bytes.NewReader(tc.src), opts)
				if err != nil {
					t.Fatal(err)
				}
				if res.Resumed != tc.resumed || res.Size != int64(len(tc.src)) {
					t.Errorf("resumed %d of %d bytes, want %d of %d", res.Resumed, res.Size, tc.resumed, len(tc.src))
				}
				if got := transporttest.ReadAll(t, b, "x.imgx", 0); !bytes.Equal(got, tc.src) {
					t.Fatal("resumed file differs from the source")
				}
			})
		}
	}
}

// garble overwrites 4 KiB at off of the partial upload (a single temporary file, or the
// temporary volume holding off).
func garble(t *testing.T, dir string, split, off int64) {
	t.Helper()
	name, inner := ".x.imgx"+transport.TempSuffix, off
	if split > 0 {
		name, inner = "."+VolumeName("x.imgx", int(off/split)+1)+transport.TempSuffix, off%split
	}
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xa5}, 4096), inner); err != nil {
		t.Fatal(err)
	}
}
