package ftp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imgx/imgx/internal/testserver"
	"github.com/imgx/imgx/transport"
	"github.com/imgx/imgx/transport/retry"
	"github.com/imgx/imgx/transport/transporttest"
)

func TestWrongPassword(t *testing.T) {
	testserver.RealTests(t)
	srv := testserver.StartVsftpd(t, false)
	_, err := Dial(context.Background(), location(srv, transport.FTP, ""), Options{Netrc: "none", Login: &Login{User: srv.User, Password: "wrong"}})
	if err == nil || !transport.IsPermanent(err) || !strings.Contains(err.Error(), "login as imgxftp refused") {
		t.Fatalf("wrong password: %v, want permanent login error", err)
	}
	// and from .netrc, which wins over the environment
	netrc := filepath.Join(t.TempDir(), "netrc")
	os.WriteFile(netrc, []byte(fmt.Sprintf("machine 127.0.0.1 login %s password %s\n", srv.User, srv.Password)), 0o600)
	b, err := Dial(context.Background(), location(srv, transport.FTP, ""), Options{Netrc: netrc})
	if err != nil {
		t.Fatalf("netrc login: %v", err)
	}
	b.Close()
}

func TestUntrustedCertificate(t *testing.T) {
	testserver.RealTests(t)
	srv := testserver.StartVsftpd(t, true)
	login := withCredentials(t, srv)
	_, err := Dial(context.Background(), location(srv, transport.FTPS, ""), Options{Netrc: "none", Login: login})
	b := &Backend{}
	if err == nil || !b.IsPermanent(err) || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("self-signed certificate without CA file: %v, want permanent certificate error", err)
	}
	b2, err := Dial(context.Background(), location(srv, transport.FTPS, ""), Options{Netrc: "none", Login: login, InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("insecure: %v", err)
	}
	b2.Close()
}

func TestMissingDirectory(t *testing.T) {
	testserver.RealTests(t)
	srv := testserver.StartVsftpd(t, false)
	login := withCredentials(t, srv)
	_, err := Dial(context.Background(), location(srv, transport.FTP, "no/such"), Options{Netrc: "none", Login: login})
	if !errors.Is(err, fs.ErrNotExist) || !transport.IsPermanent(err) || !strings.Contains(err.Error(), "no/such") {
		t.Fatalf("missing directory: %v", err)
	}
}

func TestFullDisk(t *testing.T) {
	testserver.RealTests(t)
	srv := testserver.StartVsftpd(t, false)
	login := withCredentials(t, srv)
	disk := testserver.SmallDisk(t, "2m")
	os.Chmod(disk, 0o777)
	if err := os.Symlink(disk, filepath.Join(srv.Root, "small")); err != nil {
		t.Fatal(err)
	}
	b, err := Dial(context.Background(), location(srv, transport.FTP, "small"), Options{Netrc: "none", Login: login})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_, err = transport.Put(context.Background(), b, "big", bytes.NewReader(transporttest.Data(1, 3<<20)), transport.PutOptions{})
	if err == nil || !b.IsPermanent(err) {
		t.Fatalf("full disk: %v, want permanent", err)
	}
	t.Logf("full disk: %v", err)
	if _, err := os.Stat(filepath.Join(disk, "big")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("partial file published")
	}
}

// cutConn closes itself after budget bytes, like a dropped link.
type cutConn struct {
	net.Conn
	budget *atomic.Int64
}

func (c *cutConn) Write(p []byte) (int, error) {
	if c.budget.Add(-int64(len(p))) < 0 {
		c.Conn.Close()
		return 0, fmt.Errorf("test cut: %w", net.ErrClosed)
	}
	return c.Conn.Write(p)
}

// TestCutDataConnection drops upload data connections after a few hundred
// KiB: each try leaves a longer partial file, retries resume from what the
// server kept (replaying what it lost), and the result is identical.
func TestCutDataConnection(t *testing.T) {
	testserver.RealTests(t)
	srv := testserver.StartVsftpd(t, false)
	login := withCredentials(t, srv)
	for _, cut := range []int64{2 << 20, 3 << 20} {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			dir := newDir(t, srv)
			var cuts atomic.Int64
			opts := Options{Netrc: "none", Login: login, Timeout: 3 * time.Second, Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
				var d net.Dialer
				c, err := d.DialContext(ctx, network, addr)
				if err != nil || addr == srv.Addr {
					return c, err
				}
				budget := &atomic.Int64{}
				budget.Store(cut)
				cuts.Add(1)
				return &cutConn{c, budget}, nil
			}}
			b, err := Dial(context.Background(), location(srv, transport.FTP, dir), opts)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			data := transporttest.Data(3, 8<<20+5)
			// without retries: fails, nothing published
			_, err = transport.Put(context.Background(), b, "x", bytes.NewReader(data), transport.PutOptions{CheckpointInterval: 1 << 20, SaveEvery: 4})
			if err == nil {
				t.Fatal("upload through cut connections succeeded")
			}
			if _, err := os.Stat(filepath.Join(srv.Root, dir, "x")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatal("partial upload published")
			}
			rb := retry.New(b, retry.Options{MaxRetries: 100, InitialDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond,
				Notify: func(op string, err error, n int, _ time.Duration) { t.Logf("retry %d %s: %v", n, op, err) }})
			res, err := transport.Put(context.Background(), rb, "x", bytes.NewReader(data), transport.PutOptions{CheckpointInterval: 1 << 20, SaveEvery: 4})
			if err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(filepath.Join(srv.Root, dir, "x"))
			if !bytes.Equal(got, data) {
				t.Fatalf("file differs: %d bytes, want %d", len(got), len(data))
			}
			t.Logf("cut every data connection at %d: %d data connections, resumed %d", cut, cuts.Load(), res.Resumed)
		})
	}
}

// TestCutStateWrite: a connection cut while a resume state is written must not lose the
// state saved before it. The state used to be stored in place, so a cut left a truncated
// file and the next run could not resume at all; it is now written beside and renamed.
func TestCutStateWrite(t *testing.T) {
	testserver.RealTests(t)
	srv := testserver.StartVsftpd(t, false)
	dir := newDir(t, srv)
	var armed atomic.Bool
	opts := Options{Netrc: "none", Login: withCredentials(t, srv), Timeout: 3 * time.Second, Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil || addr == srv.Addr || !armed.Load() {
			return c, err
		}
		budget := &atomic.Int64{}
		budget.Store(100) // the data connection carrying the next state dies early
		return &cutConn{c, budget}, nil
	}}
	b, err := Dial(context.Background(), location(srv, transport.FTP, dir), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	u, err := b.Create(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Write(transporttest.Data(1, 64<<10)); err != nil {
		t.Fatal(err)
	}
	first := []byte(`{"checkpoint":1}`)
	if err := u.Checkpoint(ctx, first); err != nil {
		t.Fatal(err)
	}
	armed.Store(true)
	second := bytes.Repeat([]byte("s"), 256<<10)
	if err := u.Checkpoint(ctx, second); err == nil {
		t.Fatal("a state written through a cut connection was saved")
	}
	u.Abort(ctx)
	armed.Store(false)
	u2, err := b.Create(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	defer u2.Abort(ctx)
	if got := u2.State(); !bytes.Equal(got, first) && !bytes.Equal(got, second) {
		t.Fatalf("after the cut the resume state is %d bytes (%.20q…), neither the saved state nor the new one", len(got), got)
	}
}
