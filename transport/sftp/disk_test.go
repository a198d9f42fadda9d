package sftp

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgx/imgx/internal/testserver"
	"github.com/imgx/imgx/transport"
	"github.com/imgx/imgx/transport/transporttest"
)

func fullDisk(t *testing.T, addr, user string, keys *testserver.SSHKeys, wantFree bool) {
	dir := testserver.SmallDisk(t, "2m")
	b, err := Dial(context.Background(), location(t, addr, user, dir), testOptions(keys))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	data := transporttest.Data(1, 3<<20)
	ctx := context.Background()
	if wantFree {
		_, err = transport.Put(ctx, b, "big.imgx", bytes.NewReader(data), transport.PutOptions{Size: int64(len(data))})
		if !errors.Is(err, transport.ErrInsufficientSpace) || !b.IsPermanent(err) || !strings.Contains(err.Error(), "needs 3.15MB") {
			t.Fatalf("put with size: %v, want permanent insufficient space", err)
		}
	}
	_, err = transport.Put(ctx, b, "big.imgx", bytes.NewReader(data), transport.PutOptions{})
	if err == nil || !b.IsPermanent(err) {
		t.Fatalf("put on full disk: %v, want a permanent error", err)
	}
	t.Logf("full disk: %v", err)
	if _, err := os.Stat(filepath.Join(dir, "big.imgx")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("partial file published: %v", err)
	}
}

func TestFullDiskEmbedded(t *testing.T) {
	srv := testserver.StartSFTP(t)
	fullDisk(t, srv.Addr, "u", srv.Keys, false) // pkg/sftp's server has no statvfs
}

func TestFullDiskOpenSSH(t *testing.T) {
	testserver.RealTests(t)
	srv := testserver.StartSSHD(t)
	fullDisk(t, srv.Addr, srv.User, srv.Keys, true)
}
