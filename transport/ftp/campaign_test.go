package ftp

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
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imgx/imgx/internal/testserver"
	"github.com/imgx/imgx/transport"
	"github.com/imgx/imgx/transport/retry"
	"github.com/imgx/imgx/transport/transporttest"
)

// faultPlan is one fault for a series of data connections: it hits the
// connection that carries byte number budget, counted over all of them.
type faultPlan struct {
	budget atomic.Int64
	fired  atomic.Int64
}

// faultConn cuts or stalls a connection once its plan's budget is spent,
// bytes counted in either direction. A stall lets nothing through any more, without
// closing: reads and writes wait for their deadline or for Close, the
// way they would behind a NAT that forgot the connection.
type faultConn struct {
	net.Conn
	plan  *faultPlan
	stall bool

	mu             sync.Mutex
	rdl, wdl       time.Time
	closed         chan struct{}
	closeOnce      sync.Once
	stalled, fault atomic.Bool
}

func newFaultConn(c net.Conn, plan *faultPlan, stall bool) *faultConn {
	return &faultConn{Conn: c, plan: plan, stall: stall, closed: make(chan struct{})}
}

func (f *faultConn) SetDeadline(t time.Time) error {
	f.mu.Lock()
	f.rdl, f.wdl = t, t
	f.mu.Unlock()
	return f.Conn.SetDeadline(t)
}

func (f *faultConn) SetReadDeadline(t time.Time) error {
	f.mu.Lock()
	f.rdl = t
	f.mu.Unlock()
	return f.Conn.SetReadDeadline(t)
}

func (f *faultConn) SetWriteDeadline(t time.Time) error {
	f.mu.Lock()
	f.wdl = t
	f.mu.Unlock()
	return f.Conn.SetWriteDeadline(t)
}

func (f *faultConn) Close() error {
	f.closeOnce.Do(func() { close(f.closed) })
	return f.Conn.Close()
}

// silent waits like a read or write on a dead link: until the deadline.
func (f *faultConn) silent(write bool) error {
	f.mu.Lock()
	dl := f.rdl
	if write {
		dl = f.wdl
	}
	f.mu.Unlock()
	var timeout <-chan time.Time
	if !dl.IsZero() {
		timer := time.NewTimer(time.Until(dl))
		defer timer.Stop()
		timeout = timer.C
	}
	select {
	case <-timeout:
		return os.ErrDeadlineExceeded
	case <-f.closed:
		return net.ErrClosed
	}
}

// take spends n bytes of budget and says how many may pass before the
// fault (all of them when it is not reached).
func (f *faultConn) take(n int) (int, bool) {
	if f.plan.fired.Load() > 0 {
		return n, false
	}
	left := f.plan.budget.Add(-int64(n))
	if left > 0 || !f.plan.fired.CompareAndSwap(0, 1) {
		return n, false
	}
	f.fault.Store(true)
	return max(0, n+int(left)), true
}

func (f *faultConn) Read(p []byte) (int, error) {
	if f.stalled.Load() {
		return 0, f.silent(false)
	}
	if f.fault.Load() {
		return 0, net.ErrClosed
	}
	n, err := f.Conn.Read(p)
	if n == 0 {
		return n, err
	}
	keep, hit := f.take(n)
	if !hit {
		return n, err
	}
	if f.stall {
		f.stalled.Store(true)
		if keep > 0 {
			return keep, nil
		}
		return 0, f.silent(false)
	}
	f.Conn.Close()
	if keep > 0 {
		return keep, nil
	}
	return 0, fmt.Errorf("test cut: %w", net.ErrClosed)
}

func (f *faultConn) Write(p []byte) (int, error) {
	if f.stalled.Load() {
		return 0, f.silent(true)
	}
	if f.fault.Load() {
		return 0, net.ErrClosed
	}
	keep, hit := f.take(len(p))
	if !hit {
		return f.Conn.Write(p)
	}
	n, _ := f.Conn.Write(p[:keep])
	if f.stall {
		f.stalled.Store(true)
		return n, f.silent(true)
	}
	f.Conn.Close()
	return n, fmt.Errorf("test cut: %w", net.ErrClosed)
}

// TestCampaignVsftpd cuts or stalls a data connection once, at each of a
// dozen offsets of the data (some inside a TLS record or a TCP segment), in
// downloads read the way `imgx load` reads, downloads through
// transport.Get and uploads, over FTP and FTPS against vsftpd, with
// retries on: every transfer completes byte-identical, and an upload
// never shows under its final name before it is complete.
func TestCampaignVsftpd(t *testing.T) {
	testserver.RealTests(t)
	offsets := []int64{1, 1000, 16_385, 65_537, 100_003, 262_143, 500_001, 777_777, 1_048_579, 1_300_000, 1_500_007}
	few := []int64{1000, 262_143, 777_777, 1_300_000}
	data := transporttest.Data(21, 3<<19+777)
	for _, scheme := range []transport.Scheme{transport.FTP, transport.FTPS} {
		srv := testserver.StartVsftpd(t, scheme == transport.FTPS)
		login := withCredentials(t, srv)
		dir := newDir(t, srv)
		if err := os.WriteFile(filepath.Join(srv.Root, dir, "src.imgx"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, kind := range []string{"cut", "stall"} {
			for _, op := range []string{"read", "get", "put"} {
				offs := offsets
				if kind == "stall" || op == "get" || scheme == transport.FTPS {
					offs = few
				}
				for _, off := range offs {
					t.Run(fmt.Sprintf("%s/%s/%s/%d", scheme, kind, op, off), func(t *testing.T) {
						ctx := context.Background()
						plan := &faultPlan{}
						plan.budget.Store(off)
						opts := Options{Netrc: "none", Login: login, CAFile: srv.CAFile, Timeout: 5 * time.Second, IdleTimeout: 500 * time.Millisecond,
							Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
								var d net.Dialer
								c, err := d.DialContext(ctx, network, addr)
								if err != nil || addr == srv.Addr {
									return c, err
								}
								return newFaultConn(c, plan, kind == "stall"), nil
							}}
						b, err := Dial(ctx, location(srv, scheme, dir), opts)
						if err != nil {
							t.Fatal(err)
						}
						defer b.Close()
						rb := retry.New(b, retry.Options{MaxRetries: 5, InitialDelay: time.Millisecond, MaxDelay: 20 * time.Millisecond})
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
							final := filepath.Join(srv.Root, dir, name)
							guard := &noFinalName{Backend: rb, t: t, final: final}
							if _, err := transport.Put(ctx, guard, name, bytes.NewReader(data), transport.PutOptions{CheckpointInterval: 256 << 10, SaveEvery: 1}); err != nil {
								t.Fatal(err)
							}
							got, _ = os.ReadFile(final)
						}
						if !bytes.Equal(got, data) {
							t.Fatalf("%d bytes, not the %d sent", len(got), len(data))
						}
						if plan.fired.Load() != 1 {
							t.Fatal("no fault happened: the case tested nothing")
						}
						if kind == "stall" && time.Since(start) > 10*time.Second {
							t.Errorf("took %v to get past a stall with a 500ms idle timeout", time.Since(start))
						}
					})
				}
			}
		}
	}
}

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
