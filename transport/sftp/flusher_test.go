package sftp

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/imgx/imgx/internal/testserver"
)

// TestUploadFlushesWhileWriting: an upload to OpenSSH has the server write its bytes to
// disk while it goes on (fsync@openssh.com on a second session), so Commit's own fsync
// finds only the tail left; the file arrives whole either way.
func TestUploadFlushesWhileWriting(t *testing.T) {
	testserver.RealTests(t)
	srv := testserver.StartSSHD(t)
	dir := t.TempDir()
	b, err := Dial(context.Background(), location(t, srv.Addr, srv.User, dir), testOptions(srv.Keys))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	data := make([]byte, 3*remoteFlushEvery+12345)
	rand.Read(data)
	up, err := b.Create(context.Background(), "big.imgx")
	if err != nil {
		t.Fatal(err)
	}
	u := up.(*upload)
	for p := data; len(p) > 0; {
		n := min(len(p), 1<<20)
		if _, err := u.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	if u.fl == nil {
		t.Fatal("no flusher started for an upload of 3 flush intervals (server has fsync@openssh.com)")
	}
	fl := u.fl
	if err := u.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := fl.synced.Load(); n < 1 {
		t.Errorf("the server acknowledged %d background flushes, want at least 1", n)
	}
	got, err := os.ReadFile(filepath.Join(dir, "big.imgx"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("uploaded file differs (%d bytes, want %d)", len(got), len(data))
	}
}

// TestUploadSmallStartsNoFlusher: an upload smaller than one flush interval opens no
// second session.
func TestUploadSmallStartsNoFlusher(t *testing.T) {
	srv := testserver.StartSFTP(t)
	b := dialT(t, srv.Addr, "tester", srv.Keys)
	defer b.Close()
	up, err := b.Create(context.Background(), "small.imgx")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := up.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if u := up.(*upload); u.fl != nil {
		t.Error("a flusher was started for a 1 MiB upload")
	}
	if err := up.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
}
