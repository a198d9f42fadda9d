package sftp

import (
	"context"
	"net"
	"strconv"
	"testing"

	gossh "golang.org/x/crypto/ssh"

	"github.com/imgx/imgx/internal/testserver"
	"github.com/imgx/imgx/transport"
	"github.com/imgx/imgx/transport/transporttest"
)

func location(t *testing.T, addr, user, dir string) transport.Location {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	return transport.Location{Scheme: transport.SFTP, Host: host, Port: p, User: user, Path: dir}
}

func testOptions(k *testserver.SSHKeys) Options {
	return Options{Identities: []string{k.ClientKey}, KnownHosts: k.KnownHosts, SSHConfig: "none", NoAgent: true}
}

func dialT(t *testing.T, addr, user string, k *testserver.SSHKeys) transport.Backend {
	t.Helper()
	b, err := Dial(context.Background(), location(t, addr, user, t.TempDir()), testOptions(k))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConformanceEmbedded(t *testing.T) {
	srv := testserver.StartSFTP(t)
	transporttest.Run(t, func(t *testing.T) transport.Backend {
		return dialT(t, srv.Addr, "tester", srv.Keys)
	})
}

func TestConformanceOpenSSH(t *testing.T) {
	testserver.RealTests(t)
	srv := testserver.StartSSHD(t)
	transporttest.Run(t, func(t *testing.T) transport.Backend {
		return dialT(t, srv.Addr, srv.User, srv.Keys)
	})
}

func ssh_fp(srv *testserver.SFTPServer) string {
	return gossh.FingerprintSHA256(srv.Keys.HostSigner.PublicKey())
}
