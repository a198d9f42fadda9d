package dial

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imgx/imgx/internal/testserver"
	"github.com/imgx/imgx/internal/testutil"
	"github.com/imgx/imgx/transport"
	"github.com/imgx/imgx/transport/local"
	"github.com/imgx/imgx/transport/sftp"
	"github.com/imgx/imgx/transport/transporttest"
)

// fillWith writes data in 32 KiB pieces, as a bundle writer does.
func fillWith(data []byte) func(io.Writer) error {
	return func(w io.Writer) error {
		for b := data; len(b) > 0; {
			n := min(len(b), 32<<10)
			if _, err := w.Write(b[:n]); err != nil {
				return err
			}
			b = b[n:]
		}
		return nil
	}
}

// faulty wraps a backend: its uploads fail after failAfter bytes (if > 0), sleep delay
// before each write (plus the time rate bytes/s would take, if > 0), or, with hang, block
// until their context ends.
type faulty struct {
	transport.Backend
	failAfter int64
	delay     time.Duration
	rate      int64
	hang      bool
}

func (f *faulty) Create(ctx context.Context, name string) (transport.Upload, error) {
	u, err := f.Backend.Create(ctx, name)
	if err != nil {
		return nil, err
	}
	return &faultyUpload{Upload: u, f: f, ctx: ctx}, nil
}

type faultyUpload struct {
	transport.Upload
	f       *faulty
	ctx     context.Context
	written int64
}

var errInjected = errors.New("injected: device went away")

func (u *faultyUpload) Write(p []byte) (int, error) {
	if u.f.hang {
		<-u.ctx.Done()
		return 0, u.ctx.Err()
	}
	if d := u.f.delay + rateDelay(len(p), u.f.rate); d > 0 {
		select {
		case <-time.After(d):
		case <-u.ctx.Done():
			return 0, u.ctx.Err()
		}
	}
	if u.f.failAfter > 0 && u.written+int64(len(p)) > u.f.failAfter {
		return 0, errInjected
	}
	u.written += int64(len(p))
	return u.Upload.Write(p)
}

func rateDelay(n int, rate int64) time.Duration {
	if rate <= 0 {
		return 0
	}
	return time.Duration(int64(n) * int64(time.Second) / rate)
}

// withBackends makes Write wrap the backend of the locations in faults; the test hook
// is restored at the end of the test.
func withBackends(t testing.TB, faults map[string]*faulty) {
	t.Helper()
	testHookBackend = func(s string, b transport.Backend) transport.Backend {
		if f, ok := faults[s]; ok {
			f.Backend = b
			return f
		}
		return b
	}
	t.Cleanup(func() { testHookBackend = nil })
}

func locals(t *testing.T, n int) []string {
	var out []string
	for i := range n {
		dir := filepath.Join(t.TempDir(), fmt.Sprintf("stick%d", i))
		os.Mkdir(dir, 0o755)
		out = append(out, filepath.Join(dir, "x.imgx"))
	}
	return out
}

func checkSame(t *testing.T, loc string, data []byte) {
	t.Helper()
	got, err := os.ReadFile(loc)
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("%s: %d bytes (%v), want the %d bytes sent", loc, len(got), err, len(data))
	}
}

// TestWriteManyLocal: three local destinations get byte-identical files, read back and
// reported verified, in the order given; fill runs once.
func TestWriteManyLocal(t *testing.T) {
	data := transporttest.Data(1, 3<<20+17)
	locs := locals(t, 3)
	calls := 0
	dests, err := WriteMany(context.Background(), locs, Options{}, ManyOptions{WriteOptions: WriteOptions{Size: int64(len(data)), Verify: true}, Buffer: 256 << 10},
		func(w io.Writer) error { calls++; return fillWith(data)(w) })
	if err != nil {
		t.Fatal(err)
	}
	if calls != 1 || len(dests) != 3 {
		t.Fatalf("fill ran %d times, %d destinations", calls, len(dests))
	}
	for i, d := range dests {
		if d.Location != locs[i] || d.Status() != StatusVerified || d.Err != nil || d.Result == nil || d.Result.Size != int64(len(data)) {
			t.Errorf("destination %d: %+v", i, d)
		}
		checkSame(t, locs[i], data)
	}
}

// TestWriteManyOneFails: a destination failing mid-write is dropped; the others are
// published and verified, the failed one is named with its cause, and the error says
// how many failed.
func TestWriteManyOneFails(t *testing.T) {
	data := transporttest.Data(2, 2<<20)
	locs := locals(t, 3)
	withBackends(t, map[string]*faulty{locs[1]: {failAfter: 600 << 10}})
	dests, err := WriteMany(context.Background(), locs, Options{}, ManyOptions{WriteOptions: WriteOptions{Verify: true, Put: transport.PutOptions{CheckpointInterval: 128 << 10}}, Buffer: 128 << 10}, fillWith(data))
	var me *ManyError
	if !errors.As(err, &me) || me.Failed != 1 || me.Total != 3 {
		t.Fatalf("error %v, want a ManyError with 1 of 3 failed", err)
	}
	for i, d := range dests {
		if i == 1 {
			if d.Status() != StatusFailed || !errors.Is(d.Err, errInjected) || !strings.Contains(d.Err.Error(), locs[1]) {
				t.Errorf("failed destination: %+v", d)
			}
			if _, err := os.Stat(locs[1]); !os.IsNotExist(err) {
				t.Errorf("the failed destination was published: %v", err)
			}
			continue
		}
		if d.Status() != StatusVerified {
			t.Errorf("destination %d: %s (%v)", i, d.Status(), d.Err)
		}
		checkSame(t, locs[i], data)
	}

	// The same run again, the fault gone: the failed stick resumes from what it kept,
	// as a single -o does.
	testHookBackend = nil
	dests, err = WriteMany(context.Background(), locs, Options{}, ManyOptions{WriteOptions: WriteOptions{Verify: true, Put: transport.PutOptions{CheckpointInterval: 128 << 10}}, Buffer: 128 << 10}, fillWith(data))
	if err != nil {
		t.Fatal(err)
	}
	if r := dests[1].Result; r == nil || r.Resumed < 512<<10 || dests[1].Status() != StatusVerified {
		t.Errorf("re-run of the failed destination: %+v %+v", dests[1], r)
	}
	checkSame(t, locs[1], data)
}

// TestWriteManySlowAndHung: a slow destination only slows the fan-out down to its pace
// (all three are written); a destination that takes nothing for StallTimeout is dropped
// and the others finish without it.
func TestWriteManySlowAndHung(t *testing.T) {
	data := transporttest.Data(3, 1<<20)
	mo := ManyOptions{WriteOptions: WriteOptions{Put: transport.PutOptions{CheckpointInterval: 64 << 10}}, Buffer: 64 << 10, StallTimeout: 300 * time.Millisecond}
	goroutines := runtime.NumGoroutine()
	defer func() { // nothing left running: writers, the stall ticker
		for i := 0; runtime.NumGoroutine() > goroutines && i < 100; i++ {
			time.Sleep(20 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > goroutines {
			t.Errorf("%d goroutines after, %d before", n, goroutines)
		}
	}()

	locs := locals(t, 3)
	withBackends(t, map[string]*faulty{locs[0]: {delay: 20 * time.Millisecond}})
	dests, err := WriteMany(context.Background(), locs, Options{}, mo, fillWith(data))
	if err != nil {
		t.Fatalf("slow destination: %v", err)
	}
	for i, d := range dests {
		if d.Status() != StatusWritten {
			t.Errorf("slow case, destination %d: %s (%v)", i, d.Status(), d.Err)
		}
		checkSame(t, locs[i], data)
	}

	locs = locals(t, 3)
	withBackends(t, map[string]*faulty{locs[2]: {hang: true}})
	start := time.Now()
	dests, err = WriteMany(context.Background(), locs, Options{}, mo, fillWith(data))
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("took %s with a hung destination", el)
	}
	var me *ManyError
	if !errors.As(err, &me) || me.Failed != 1 {
		for _, d := range dests {
			t.Logf("%s: %v", d.Location, d.Err)
		}
		t.Fatalf("hung destination: %v", err)
	}
	if d := dests[2]; d.Status() != StatusFailed || !errors.Is(d.Err, ErrStalled) {
		t.Errorf("hung destination: %+v", d)
	}
	checkSame(t, locs[0], data)
	checkSame(t, locs[1], data)
}

// TestWriteManyVerifyCorrupted: --verify reads each destination back; one whose bytes
// changed after publishing is reported failed, the others verified.
func TestWriteManyVerifyCorrupted(t *testing.T) {
	data := transporttest.Data(4, 1<<20)
	locs := locals(t, 3)
	var once sync.Once
	testHookBeforeVerify = func(s string) {
		if s == locs[0] {
			once.Do(func() {
				f, _ := os.OpenFile(s, os.O_WRONLY, 0)
				f.WriteAt([]byte("X"), 1000)
				f.Close()
			})
		}
	}
	t.Cleanup(func() { testHookBeforeVerify = nil })
	dests, err := WriteMany(context.Background(), locs, Options{}, ManyOptions{WriteOptions: WriteOptions{Verify: true}}, fillWith(data))
	var me *ManyError
	if !errors.As(err, &me) || me.Failed != 1 {
		t.Fatalf("error %v, want 1 failed", err)
	}
	if d := dests[0]; d.Status() != StatusFailed || d.Result == nil || !strings.Contains(d.Err.Error(), "read back") {
		t.Errorf("corrupted destination: %+v", d)
	}
	for _, d := range dests[1:] {
		if d.Status() != StatusVerified {
			t.Errorf("%s: %s (%v)", d.Location, d.Status(), d.Err)
		}
	}
}

// TestWriteManyFillError: the producer's error is returned as it is and every
// destination failed with it; nothing is published.
func TestWriteManyFillError(t *testing.T) {
	boom := errors.New("boom")
	locs := locals(t, 2)
	dests, err := WriteMany(context.Background(), locs, Options{}, ManyOptions{}, func(w io.Writer) error {
		w.Write([]byte("part"))
		return boom
	})
	if err != boom {
		t.Fatalf("got %v, want the producer's error", err)
	}
	for _, d := range dests {
		if d.Status() != StatusFailed {
			t.Errorf("%s: %s", d.Location, d.Status())
		}
		if _, err := os.Stat(d.Location); !os.IsNotExist(err) {
			t.Errorf("%s published", d.Location)
		}
	}
}

// TestWriteManyAllFail: when every destination fails the producer is stopped, not run to
// the end for nobody.
func TestWriteManyAllFail(t *testing.T) {
	locs := []string{filepath.Join(t.TempDir(), "missing", "x.imgx"), filepath.Join(t.TempDir(), "missing", "y.imgx")}
	var produced int64
	_, err := WriteMany(context.Background(), locs, Options{}, ManyOptions{Buffer: 64 << 10}, func(w io.Writer) error {
		chunk := make([]byte, 32<<10)
		for range 10000 { // 320 MB if nobody stops it
			n, err := w.Write(chunk)
			produced += int64(n)
			if err != nil {
				return err
			}
		}
		return nil
	})
	var me *ManyError
	if !errors.As(err, &me) || me.Failed != 2 {
		t.Fatalf("error %v, want 2 of 2 failed", err)
	}
	if produced > 1<<20 {
		t.Errorf("the producer went on for %d bytes with no destination left", produced)
	}
}

// TestWriteManyLocalAndSFTP: a local directory and an SFTP server in one fan-out.
func TestWriteManyLocalAndSFTP(t *testing.T) {
	srv := testserver.StartSFTP(t)
	host, port, _ := net.SplitHostPort(srv.Addr)
	remoteDir := t.TempDir()
	remote := "sftp://u@" + net.JoinHostPort(host, port) + remoteDir + "/x.imgx"
	if _, err := strconv.Atoi(port); err != nil {
		t.Fatal(err)
	}
	opts := Options{SFTP: sftp.Options{Identities: []string{srv.Keys.ClientKey}, KnownHosts: srv.Keys.KnownHosts, SSHConfig: "none", NoAgent: true}}
	data := transporttest.Data(5, 2<<20+3)
	locs := append(locals(t, 1), remote)
	dests, err := WriteMany(context.Background(), locs, opts, ManyOptions{WriteOptions: WriteOptions{Verify: true}}, fillWith(data))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dests {
		if d.Status() != StatusVerified {
			t.Errorf("%s: %s (%v)", d.Location, d.Status(), d.Err)
		}
	}
	checkSame(t, locs[0], data)
	checkSame(t, filepath.Join(remoteDir, "x.imgx"), data)
}

// TestWriteManyUsage: no location, a repeated one, or standard output is refused before
// fill runs.
func TestWriteManyUsage(t *testing.T) {
	l := locals(t, 1)[0]
	dup := filepath.Dir(l) + "/./" + filepath.Base(l)
	for _, locs := range [][]string{nil, {l, l}, {l, dup}, {l, "-"}} {
		ran := false
		_, err := WriteMany(context.Background(), locs, Options{}, ManyOptions{}, func(io.Writer) error { ran = true; return nil })
		if err == nil || ran {
			t.Errorf("%q: err %v, fill ran %v", locs, err, ran)
		}
	}
}

// TestHostileWriteManyTempLink: a link planted at the temporary name on one stick makes
// that destination fail (nothing written through it, nothing published there); the other
// sticks get the bundle.
func TestHostileWriteManyTempLink(t *testing.T) {
	locs := locals(t, 3)
	outside := t.TempDir()
	victim := filepath.Join(outside, "victim")
	os.WriteFile(victim, []byte("precious"), 0o644)
	before := testutil.TreeHash(t, outside)
	os.Symlink(victim, filepath.Join(filepath.Dir(locs[1]), ".x.imgx"+transport.TempSuffix))
	data := transporttest.Data(6, 300<<10)
	dests, err := WriteMany(context.Background(), locs, Options{}, ManyOptions{WriteOptions: WriteOptions{Verify: true}}, fillWith(data))
	var me *ManyError
	if !errors.As(err, &me) || me.Failed != 1 {
		t.Fatalf("error %v, want 1 failed", err)
	}
	var we *WriteError
	if d := dests[1]; d.Status() != StatusFailed || !errors.As(d.Err, &we) || !errors.Is(d.Err, local.ErrSymlink) {
		t.Errorf("planted link: %+v", d)
	}
	if _, err := os.Lstat(locs[1]); !os.IsNotExist(err) {
		t.Errorf("published through a planted link: %v", err)
	}
	if after := testutil.TreeHash(t, outside); after != before {
		t.Error("the tree outside the carrier changed")
	}
	checkSame(t, locs[0], data)
	checkSame(t, locs[2], data)
}

// TestAskOnce: destinations asking at the same time get one question at a time, and one
// question per key file or login.
func TestAskOnce(t *testing.T) {
	var mu sync.Mutex
	asked, inside, overlap := map[string]int{}, 0, false
	q := func(k string) ([]byte, error) {
		mu.Lock()
		asked[k]++
		inside++
		overlap = overlap || inside > 1
		mu.Unlock()
		time.Sleep(5 * time.Millisecond)
		mu.Lock()
		inside--
		mu.Unlock()
		return []byte("pw-" + k), nil
	}
	pp, pw := askOnce(func(f string) ([]byte, error) { return q(f) }, func(u, a string) ([]byte, error) { return q(u + "@" + a) })
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if b, _ := pp("id_ed25519"); string(b) != "pw-id_ed25519" {
				t.Errorf("passphrase %q", b)
			}
			pw("deploy", "a:22")
			pw("deploy", "b:22")
		})
	}
	wg.Wait()
	if overlap || asked["id_ed25519"] != 1 || asked["deploy@a:22"] != 1 || asked["deploy@b:22"] != 1 {
		t.Errorf("overlap %v, asked %v", overlap, asked)
	}
	if a, b := askOnce(nil, nil); a != nil || b != nil {
		t.Error("nil callbacks became non-nil")
	}
}
