package ftp

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/imgx/imgx/internal/testserver"
	"github.com/imgx/imgx/transport"
	"github.com/imgx/imgx/transport/transporttest"
)

var dirs atomic.Int64

// newDir makes a fresh directory under the server's login directory.
func newDir(t *testing.T, srv *testserver.FTPD) string {
	t.Helper()
	d := fmt.Sprintf("t%d", dirs.Add(1))
	if err := os.Mkdir(filepath.Join(srv.Root, d), 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(srv.Root, d), 0o777)
	return d
}

func location(srv *testserver.FTPD, scheme transport.Scheme, dir string) transport.Location {
	host, port, _ := net.SplitHostPort(srv.Addr)
	p, _ := strconv.Atoi(port)
	return transport.Location{Scheme: scheme, Host: host, Port: p, Path: dir + "/"}
}

// withCredentials returns the test server's login, as the CLI takes it from
// $IMGX_FTP_USER and $IMGX_FTP_PASSWORD.
func withCredentials(t *testing.T, srv *testserver.FTPD) *Login {
	return &Login{User: srv.User, Password: srv.Password}
}

func TestConformanceVsftpd(t *testing.T) {
	testserver.RealTests(t)
	srv := testserver.StartVsftpd(t, false)
	login := withCredentials(t, srv)
	transporttest.Run(t, func(t *testing.T) transport.Backend {
		b, err := Dial(context.Background(), location(srv, transport.FTP, newDir(t, srv)), Options{Netrc: "none", Login: login})
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

func TestConformanceVsftpdTLS(t *testing.T) {
	testserver.RealTests(t)
	srv := testserver.StartVsftpd(t, true)
	login := withCredentials(t, srv)
	transporttest.Run(t, func(t *testing.T) transport.Backend {
		b, err := Dial(context.Background(), location(srv, transport.FTPS, newDir(t, srv)), Options{Netrc: "none", Login: login, CAFile: srv.CAFile})
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

// TestHostileListing: entries of a real vsftpd listing whose names are not one plain
// element (control characters, backslashes) and links are skipped with a notice.
func TestHostileListing(t *testing.T) {
	testserver.RealTests(t)
	srv := testserver.StartVsftpd(t, false)
	login := withCredentials(t, srv)
	d := newDir(t, srv)
	dir := filepath.Join(srv.Root, d)
	os.WriteFile(filepath.Join(dir, "good.imgx"), []byte("good"), 0o644)
	os.WriteFile(filepath.Join(dir, "\x1b[2Jc.imgx"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(dir, `..\..\d.imgx`), []byte("x"), 0o644)
	os.Symlink("good.imgx", filepath.Join(dir, "link.imgx"))
	var notices []string
	b, err := Dial(context.Background(), location(srv, transport.FTP, d), Options{Netrc: "none", Login: login, Notice: func(m string) { notices = append(notices, m) }})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var listed []string
	if err := b.List(context.Background(), "", func(fi transport.FileInfo) error { listed = append(listed, fi.Name); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(listed) != "[good.imgx]" {
		t.Errorf("listed %q, want only good.imgx", listed)
	}
	// (vsftpd does not list the backslash name at all.)
	if n := fmt.Sprint(notices); len(notices) < 2 || !strings.Contains(n, "control character") || !strings.Contains(n, "symbolic link") {
		t.Errorf("notices %q, want the escape name and the link", notices)
	}
}
