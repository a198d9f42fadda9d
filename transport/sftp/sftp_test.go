package sftp

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
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

// TestHostileListing: names a server lists are only used when they are one plain
// element; names with control characters or backslashes, links and special files are
// skipped with a notice and never reach the caller.
func TestHostileListing(t *testing.T) {
	srv := testserver.StartSFTP(t)
	dir := t.TempDir()
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret.imgx"), []byte("secret"), 0o644)
	os.WriteFile(filepath.Join(dir, "good.imgx"), []byte("good"), 0o644)
	for _, n := range []string{"a\nfailed: b.imgx", "\x1b[2Jc.imgx", `..\..\d.imgx`} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Symlink(filepath.Join(outside, "secret.imgx"), filepath.Join(dir, "link.imgx"))
	syscall.Mkfifo(filepath.Join(dir, "fifo.imgx"), 0o644)
	var notices []string
	o := testOptions(srv.Keys)
	o.Notice = func(m string) { notices = append(notices, m) }
	b, err := Dial(context.Background(), location(t, srv.Addr, "tester", dir), o)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var listed []string
	if err := b.List(context.Background(), "", func(fi transport.FileInfo) error { listed = append(listed, fi.Name); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(listed, ",") != "good.imgx" {
		t.Errorf("listed %q, want only good.imgx", listed)
	}
	if len(notices) != 5 {
		t.Errorf("notices %q, want 5", notices)
	}
	for _, n := range notices {
		if strings.ContainsAny(n, "\n\x1b") {
			t.Errorf("notice carries a raw control character: %q", n)
		}
	}
}

// TestCheckpointReplacesState: a new resume state is written beside the old one and
// renamed over it (posix-rename), never truncated in place, so a kill inside Checkpoint
// keeps the resume point already saved; the side file goes at Commit.
func TestCheckpointReplacesState(t *testing.T) {
	for _, real := range []bool{false, true} {
		t.Run(map[bool]string{false: "embedded", true: "openssh"}[real], func(t *testing.T) {
			var b transport.Backend
			dir := t.TempDir()
			if real {
				testserver.RealTests(t)
				srv := testserver.StartSSHD(t)
				bb, err := Dial(context.Background(), location(t, srv.Addr, srv.User, dir), testOptions(srv.Keys))
				if err != nil {
					t.Fatal(err)
				}
				b = bb
			} else {
				srv := testserver.StartSFTP(t)
				bb, err := Dial(context.Background(), location(t, srv.Addr, "tester", dir), testOptions(srv.Keys))
				if err != nil {
					t.Fatal(err)
				}
				b = bb
			}
			defer b.Close()
			ctx := context.Background()
			u, err := b.Create(ctx, "x.imgx")
			if err != nil {
				t.Fatal(err)
			}
			state := filepath.Join(dir, filepath.FromSlash(transport.StateName("x.imgx")))
			inode := func() uint64 {
				fi, err := os.Stat(state)
				if err != nil {
					t.Fatal(err)
				}
				return fi.Sys().(*syscall.Stat_t).Ino
			}
			u.Write([]byte("abc"))
			if err := u.Checkpoint(ctx, []byte(`{"version":1}`)); err != nil {
				t.Fatal(err)
			}
			first := inode()
			u.Write([]byte("def"))
			if err := u.Checkpoint(ctx, []byte(`{"version":1,"n":2}`)); err != nil {
				t.Fatal(err)
			}
			if inode() == first {
				t.Error("the resume state was rewritten in place: a kill between truncate and write loses it")
			}
			if got, _ := os.ReadFile(state); string(got) != `{"version":1,"n":2}` {
				t.Errorf("state = %q", got)
			}
			if err := u.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) != 0 {
				t.Errorf("left after commit: %v", left)
			}
		})
	}
}
