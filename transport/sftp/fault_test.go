package sftp

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
	"testing"
	"time"

	"github.com/imgx/imgx/internal/testserver"
	"github.com/imgx/imgx/transport"
	"github.com/imgx/imgx/transport/retry"
	"github.com/imgx/imgx/transport/transporttest"
)

var smallCheckpoints = transport.PutOptions{CheckpointInterval: 256 << 10, SaveEvery: 1}

// TestCutConnection cuts the TCP connection after various byte counts:
// the failed upload never shows under the final name, a re-run resumes,
// and the result is byte-identical.
func TestCutConnection(t *testing.T) {
	srv := testserver.StartSFTP(t)
	data := transporttest.Data(42, 3<<20+123)
	dir := t.TempDir()
	for _, cut := range []int64{3000, 20 << 10, 700 << 10, 2 << 20} {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			ctx := context.Background()
			name := fmt.Sprintf("cut%d.imgx", cut)
			proxy := testserver.StartProxy(t, srv.Addr)
			proxy.CutAfter.Store(cut)
			b, err := Dial(ctx, location(t, srv.Addr, "u", dir), viaProxy(srv, proxy))
			if err == nil {
				_, err = transport.Put(ctx, b, name, bytes.NewReader(data), smallCheckpoints)
				b.Close()
			}
			if err == nil {
				t.Fatalf("upload through a connection cut at %d succeeded", cut)
			}
			if _, serr := os.Stat(filepath.Join(dir, name)); !errors.Is(serr, fs.ErrNotExist) {
				t.Fatalf("partial upload under the final name: %v", serr)
			}
			proxy.CutAfter.Store(0)
			b, err = Dial(ctx, location(t, srv.Addr, "u", dir), viaProxy(srv, proxy))
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			res, err := transport.Put(ctx, b, name, bytes.NewReader(data), smallCheckpoints)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(filepath.Join(dir, name))
			if !bytes.Equal(got, data) {
				t.Fatalf("resumed file differs (%d bytes, want %d)", len(got), len(data))
			}
			t.Logf("cut at %d: resumed %d bytes", cut, res.Resumed)
		})
	}
}

// TestRetryThroughCuts: every connection is cut after 1 MiB; the retry
// decorator reconnects and goes on from where the server stopped.
func TestRetryThroughCuts(t *testing.T) {
	srv := testserver.StartSFTP(t)
	proxy := testserver.StartProxy(t, srv.Addr)
	dir := t.TempDir()
	ctx := context.Background()
	proxy.CutAfter.Store(1 << 20) // every connection
	b, err := Dial(ctx, location(t, srv.Addr, "u", dir), viaProxy(srv, proxy))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	rb := retry.New(b, retry.Options{MaxRetries: 20, InitialDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond})
	data := transporttest.Data(7, 5<<20+9)
	if _, err := transport.Put(ctx, rb, "r.imgx", bytes.NewReader(data), smallCheckpoints); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "r.imgx"))
	if !bytes.Equal(got, data) {
		t.Fatalf("file differs after retries (%d bytes, want %d)", len(got), len(data))
	}
	// and a download through cuts
	out, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := transport.Get(ctx, rb, "r.imgx", out, transport.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	got, _ = os.ReadFile(out.Name())
	if !bytes.Equal(got, data) {
		t.Fatalf("download differs after retries")
	}
	if proxy.Cuts.Load() < 5 {
		t.Errorf("only %d cuts: the test did not exercise retries", proxy.Cuts.Load())
	}
}

// viaProxy connects through proxy while checking the server's host key.
func viaProxy(srv *testserver.SFTPServer, proxy *testserver.Proxy) Options {
	o := testOptions(srv.Keys)
	o.Dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, proxy.Addr)
	}
	return o
}

func TestHostKeyRefused(t *testing.T) {
	srv := testserver.StartSFTP(t)
	ctx := context.Background()
	loc := location(t, srv.Addr, "u", t.TempDir())
	// unknown: an empty known_hosts
	empty := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(empty, nil, 0o644)
	o := testOptions(srv.Keys)
	o.KnownHosts = empty
	_, err := Dial(ctx, loc, o)
	checkHostKeyErr(t, err, false, srv)
	// changed: another key recorded for the address
	other := testserver.NewSSHKeys(t)
	testserver.WriteKnownHosts(t, other.KnownHosts, srv.Addr, other.HostSigner.PublicKey())
	o.KnownHosts = other.KnownHosts
	_, err = Dial(ctx, loc, o)
	checkHostKeyErr(t, err, true, srv)
	// explicitly insecure: accepted
	o.InsecureIgnoreHostKey = true
	b, err := Dial(ctx, loc, o)
	if err != nil {
		t.Fatalf("insecure dial: %v", err)
	}
	b.Close()
}

func checkHostKeyErr(t *testing.T, err error, changed bool, srv *testserver.SFTPServer) {
	t.Helper()
	var he *HostKeyError
	if !errors.As(err, &he) || he.Changed != changed {
		t.Fatalf("dial: %v, want HostKeyError changed=%v", err, changed)
	}
	if !strings.Contains(err.Error(), ssh_fp(srv)) {
		t.Errorf("error does not show the fingerprint %s: %v", ssh_fp(srv), err)
	}
	if !transport.IsPermanent(err) {
		t.Errorf("host key error not permanent: %v", err)
	}
}

func TestAuthRefused(t *testing.T) {
	srv := testserver.StartSFTP(t)
	o := testOptions(srv.Keys)
	o.Identities = []string{filepath.Join(t.TempDir(), "other")}
	testserver.WriteKey(t, o.Identities[0], nil)
	_, err := Dial(context.Background(), location(t, srv.Addr, "u", t.TempDir()), o)
	if err == nil || !transport.IsPermanent(err) || !strings.Contains(err.Error(), "unable to authenticate") {
		t.Fatalf("dial with a key the server does not know: %v, want permanent auth error", err)
	}
}

func TestEncryptedKey(t *testing.T) {
	srv := testserver.StartSFTP(t)
	keyFile := filepath.Join(t.TempDir(), "enc")
	signer := testserver.WriteKey(t, keyFile, []byte("s3cret"))
	// Let the server accept it: rebuild authorized key check by using
	// the encrypted key as the server's client key is not possible, so
	// check parsing alone.
	_ = signer
	o := Options{}
	if _, err := loadKey(keyFile, o.Passphrase); err == nil || !strings.Contains(err.Error(), PassphraseEnv) {
		t.Fatalf("encrypted key without passphrase: %v", err)
	}
	static := func(pw string) func(string) ([]byte, error) {
		return func(string) ([]byte, error) { return []byte(pw), nil }
	}
	if _, err := loadKey(keyFile, static("wrong")); err == nil {
		t.Fatal("wrong passphrase accepted")
	}
	s, err := loadKey(keyFile, static("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	if string(s.PublicKey().Marshal()) != string(signer.PublicKey().Marshal()) {
		t.Fatal("decrypted a different key")
	}
	asked := ""
	if _, err := loadKey(keyFile, func(f string) ([]byte, error) { asked = f; return []byte("s3cret"), nil }); err != nil || asked != keyFile {
		t.Fatalf("prompt: asked %q, %v", asked, err)
	}
	_ = srv
}

func TestMissingDirectory(t *testing.T) {
	srv := testserver.StartSFTP(t)
	_, err := Dial(context.Background(), location(t, srv.Addr, "u", "/nonexistent/imgx"), testOptions(srv.Keys))
	if !errors.Is(err, fs.ErrNotExist) || !transport.IsPermanent(err) || !strings.Contains(err.Error(), "/nonexistent/imgx") {
		t.Fatalf("dial to a missing directory: %v", err)
	}
}

func TestSSHConfigHost(t *testing.T) {
	srv := testserver.StartSFTP(t)
	host, port, _ := strings.Cut(srv.Addr, ":")
	cfg := filepath.Join(t.TempDir(), "config")
	os.WriteFile(cfg, []byte(fmt.Sprintf("Host bundles\n  HostName %s\n  Port %s\n  User carrier\n  IdentityFile %s\n", host, port, srv.Keys.ClientKey)), 0o600)
	dir := t.TempDir()
	b, err := Dial(context.Background(), transport.Location{Scheme: transport.SFTP, Host: "bundles", Path: dir},
		Options{SSHConfig: cfg, KnownHosts: srv.Keys.KnownHosts, NoAgent: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if !strings.HasPrefix(b.Location(), "sftp://carrier@bundles") {
		t.Errorf("location %s", b.Location())
	}
}
