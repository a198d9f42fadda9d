package dial

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/imgx/imgx/internal/testserver"
	"github.com/imgx/imgx/transport"
	"github.com/imgx/imgx/transport/retry"
	"github.com/imgx/imgx/transport/sftp"
)

// TestFirstConnectionRetried: a connection cut during the SSH handshake is
// retried like any other transient failure (once per failure), unless
// retries are off.
func TestFirstConnectionRetried(t *testing.T) {
	srv := testserver.StartSFTP(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "x.imgx"), []byte("x"), 0o644)
	host, port, _ := net.SplitHostPort(srv.Addr)
	p, _ := strconv.Atoi(port)
	loc := transport.Location{Scheme: transport.SFTP, Host: host, Port: p, User: "u", Path: dir + "/x.imgx"}
	for _, noRetry := range []bool{false, true} {
		proxy := testserver.StartProxy(t, srv.Addr)
		proxy.FaultNext(testserver.Fault{Cut: 300}, testserver.Fault{Cut: 300}) // inside the handshake
		var notes int
		opts := Options{
			SFTP: sftp.Options{Identities: []string{srv.Keys.ClientKey}, KnownHosts: srv.Keys.KnownHosts, SSHConfig: "none", NoAgent: true,
				Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
					var d net.Dialer
					return d.DialContext(ctx, network, proxy.Addr)
				}},
			Retry:   retry.Options{InitialDelay: time.Millisecond, Notify: func(string, error, int, time.Duration) { notes++ }},
			NoRetry: noRetry,
		}
		b, name, err := Open(context.Background(), loc, opts)
		if noRetry {
			if err == nil {
				b.Close()
				t.Fatal("connection cut in the handshake succeeded without retries")
			}
			if proxy.Conns.Load() != 1 {
				t.Errorf("%d connections without retries, want 1", proxy.Conns.Load())
			}
			continue
		}
		if err != nil {
			t.Fatalf("open through two cut handshakes: %v", err)
		}
		if _, err := b.Stat(context.Background(), name); err != nil {
			t.Fatal(err)
		}
		b.Close()
		if proxy.Conns.Load() != 3 || notes != 2 {
			t.Errorf("%d connections, %d retries; want 3 and 2", proxy.Conns.Load(), notes)
		}
	}
}
