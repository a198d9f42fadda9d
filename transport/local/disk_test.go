package local

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/imgx/imgx/internal/testserver"
	"github.com/imgx/imgx/transport"
	"github.com/imgx/imgx/transport/transporttest"
)

func TestFullDisk(t *testing.T) {
	dir := testserver.SmallDisk(t, "2m")
	b, err := New(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	data := transporttest.Data(1, 3<<20)
	ctx := context.Background()

	// size known: refused before writing, with both figures
	_, err = transport.Put(ctx, b, "big.imgx", bytes.NewReader(data), transport.PutOptions{Size: int64(len(data))})
	var ise *transport.InsufficientSpaceError
	if !errors.As(err, &ise) || !b.IsPermanent(err) || !strings.Contains(err.Error(), "needs 3.15MB, 2.10MB free") {
		t.Fatalf("put with size: %v, want permanent 'needs 3.15MB, 2.10MB free'", err)
	}
	// size unknown: the disk fills up, ENOSPC, permanent, nothing published
	_, err = transport.Put(ctx, b, "big.imgx", bytes.NewReader(data), transport.PutOptions{})
	if !errors.Is(err, syscall.ENOSPC) || !b.IsPermanent(err) {
		t.Fatalf("put on full disk: %v, want permanent ENOSPC", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "big.imgx")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("partial file published: %v", err)
	}
}

func TestMissingRoot(t *testing.T) {
	_, err := New(filepath.Join(t.TempDir(), "nope"), Options{})
	if !errors.Is(err, fs.ErrNotExist) || !transport.IsPermanent(err) {
		t.Fatalf("new on missing dir: %v", err)
	}
}
