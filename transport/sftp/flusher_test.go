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

// TestUploadFlusher: an upload to OpenSSH of more than one flush interval has the server
// write its bytes to disk while it goes on (fsync@openssh.com on a second session), so
// Commit's own fsync finds only the tail; a smaller one opens no second session, nor
// does any upload to a server without fsync@openssh.com (the embedded pkg/sftp server).
// The file arrives whole in every case.
func TestUploadFlusher(t *testing.T) {
	testserver.RealTests(t)
	sshd := testserver.StartSSHD(t)
	embedded := testserver.StartSFTP(t)
	for _, tt := range []struct {
		name        string
		openssh     bool
		size        int
		wantFlusher bool
	}{
		{"OpenSSH, three intervals", true, 3*remoteFlushEvery + 12345, true},
		{"OpenSSH, under one interval", true, 1 << 20, false},
		{"no fsync extension", false, 2*remoteFlushEvery + 1, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			loc, opts := location(t, embedded.Addr, "tester", dir), testOptions(embedded.Keys)
			if tt.openssh {
				loc, opts = location(t, sshd.Addr, sshd.User, dir), testOptions(sshd.Keys)
			}
			b, err := Dial(context.Background(), loc, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			data := make([]byte, tt.size)
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
			fl := u.fl
			if (fl != nil) != tt.wantFlusher {
				t.Fatalf("flusher started: %v, want %v", fl != nil, tt.wantFlusher)
			}
			if err := u.Commit(context.Background()); err != nil {
				t.Fatal(err)
			}
			if fl != nil && fl.synced.Load() < 1 {
				t.Errorf("the server acknowledged %d background flushes, want at least 1", fl.synced.Load())
			}
			got, err := os.ReadFile(filepath.Join(dir, "big.imgx"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("uploaded file differs (%d bytes, want %d)", len(got), len(data))
			}
		})
	}
}
