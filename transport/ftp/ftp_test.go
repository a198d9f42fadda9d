package ftp

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
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

func withCredentials(t *testing.T, srv *testserver.FTPD) {
	t.Setenv(UserEnv, srv.User)
	t.Setenv(PasswordEnv, srv.Password)
}

func TestConformanceVsftpd(t *testing.T) {
	testserver.RealTests(t)
	srv := testserver.StartVsftpd(t, false)
	withCredentials(t, srv)
	transporttest.Run(t, func(t *testing.T) transport.Backend {
		b, err := Dial(context.Background(), location(srv, transport.FTP, newDir(t, srv)), Options{Netrc: "none"})
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

func TestConformanceVsftpdTLS(t *testing.T) {
	testserver.RealTests(t)
	srv := testserver.StartVsftpd(t, true)
	withCredentials(t, srv)
	transporttest.Run(t, func(t *testing.T) transport.Backend {
		b, err := Dial(context.Background(), location(srv, transport.FTPS, newDir(t, srv)), Options{Netrc: "none", CAFile: srv.CAFile})
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}
