package sftp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/imgx/imgx/internal/testserver"
	"github.com/imgx/imgx/transport"
	"github.com/imgx/imgx/transport/retry"
	"github.com/imgx/imgx/transport/transporttest"
)

// faultOffsets are where the campaigns break the connection, in bytes of
// the TCP stream (the SSH handshake and login take the first few KiB).
// Several fall inside a 128 KiB SFTP data packet and inside a 32 KiB SSH
// channel packet, none on a boundary.
var faultOffsets = []int64{12_000, 40_017, 100_003, 131_073, 200_000, 262_500, 500_001, 777_777, 1_048_579, 1_300_000, 1_500_007}

// fewOffsets is the subset for the slower or redundant cases.
var fewOffsets = []int64{40_017, 262_500, 777_777, 1_300_000}

func keysViaProxy(k *testserver.SSHKeys, proxy *testserver.Proxy) Options {
	o := testOptions(k)
	o.Dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, proxy.Addr)
	}
	return o
}

var fastRetries = retry.Options{MaxRetries: 5, InitialDelay: time.Millisecond, MaxDelay: 20 * time.Millisecond}

// noFinalName fails the test when Create is called (on every reconnect of
// an upload) while name is already visible under its final name.
type noFinalName struct {
	transport.Backend
	t     *testing.T
	final string
}

func (b *noFinalName) Create(ctx context.Context, name string) (transport.Upload, error) {
	if _, err := os.Stat(b.final); !errors.Is(err, fs.ErrNotExist) {
		b.t.Errorf("%s visible before the upload finished: %v", b.final, err)
	}
	return b.Backend.Create(ctx, name)
}

// TestCampaignOpenSSH cuts or stalls the connection once at each of
// faultOffsets, during a download read the way `imgx load` reads (Read
// with 32 KiB buffers), a download through transport.Get (WriteTo) and
// an upload, all against OpenSSH with retries on: each completes with
// byte-identical results, and an upload never shows under its final name
// before it is complete.
func TestCampaignOpenSSH(t *testing.T) {
	testserver.RealTests(t)
	srv := testserver.StartSSHD(t)
	data := transporttest.Data(12, 3<<19+4321)
	dir := t.TempDir()
	src := filepath.Join(dir, "src.imgx")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"cut", "stall"} {
		for _, op := range []string{"read", "get", "put"} {
			offsets := faultOffsets
			if kind == "stall" || op == "get" {
				offsets = fewOffsets
			}
			for _, off := range offsets {
				t.Run(fmt.Sprintf("%s/%s/%d", kind, op, off), func(t *testing.T) {
					ctx := context.Background()
					proxy := testserver.StartProxy(t, srv.Addr)
					o := keysViaProxy(srv.Keys, proxy)
					o.IdleTimeout = time.Second
					b, err := Dial(ctx, location(t, srv.Addr, srv.User, dir), o)
					if err != nil {
						t.Fatal(err)
					}
					defer b.Close()
					// Break the live connection at off, counted from its start.
					switch kind {
					case "cut":
						proxy.FaultNext(testserver.Fault{Cut: off})
					case "stall":
						proxy.FaultNext(testserver.Fault{Stall: off})
					}
					b.dropConnection() // the next operation dials through the fault
					rb := retry.New(b, fastRetries)
					start := time.Now()
					var got []byte
					switch op {
					case "read":
						rc, err := rb.Open(ctx, "src.imgx", 0)
						if err != nil {
							t.Fatal(err)
						}
						var buf bytes.Buffer
						_, err = io.CopyBuffer(&buf, struct{ io.Reader }{rc}, make([]byte, 32<<10))
						rc.Close()
						if err != nil {
							t.Fatal(err)
						}
						got = buf.Bytes()
					case "get":
						f, err := os.Create(filepath.Join(t.TempDir(), "got"))
						if err != nil {
							t.Fatal(err)
						}
						defer f.Close()
						if _, err := transport.Get(ctx, rb, "src.imgx", f, transport.GetOptions{}); err != nil {
							t.Fatal(err)
						}
						got, _ = os.ReadFile(f.Name())
					case "put":
						name := fmt.Sprintf("put-%s-%d.imgx", kind, off)
						guard := &noFinalName{Backend: rb, t: t, final: filepath.Join(dir, name)}
						if _, err := transport.Put(ctx, guard, name, bytes.NewReader(data), smallCheckpoints); err != nil {
							t.Fatal(err)
						}
						got, _ = os.ReadFile(filepath.Join(dir, name))
					}
					if !bytes.Equal(got, data) {
						t.Fatalf("%d bytes, not the %d sent", len(got), len(data))
					}
					faults := proxy.Cuts.Load() + proxy.Stalls.Load()
					if faults != 1 {
						t.Fatalf("%d faults happened, want 1: the case tested nothing", faults)
					}
					if kind == "stall" && time.Since(start) > 10*time.Second {
						t.Errorf("took %v to get past a stall with a 1s idle timeout", time.Since(start))
					}
				})
			}
		}
	}
}
