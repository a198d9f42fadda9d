package sftp

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/imgx/imgx/internal/testserver"
	"github.com/imgx/imgx/transport"
)

func TestPasswordLogin(t *testing.T) {
	for _, interactive := range []bool{false, true} {
		name := map[bool]string{false: "password", true: "keyboard-interactive"}[interactive]
		t.Run(name, func(t *testing.T) {
			srv := testserver.StartSFTPPassword(t, "s3cret", interactive)
			opts := Options{KnownHosts: srv.Keys.KnownHosts, SSHConfig: "none", NoAgent: true}
			dir := t.TempDir()
			loc := location(t, srv.Addr, "gateway", dir)
			// No Home: no default keys.

			// A static password.
			opts.Password = func(string, string) ([]byte, error) { return []byte("s3cret"), nil }
			b, err := Dial(context.Background(), loc, opts)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := transport.Put(context.Background(), b, "hello.txt", strings.NewReader("hi"), transport.PutOptions{}); err != nil {
				t.Fatal(err)
			}
			b.Close()

			// Wrong password: a permanent failure naming the methods tried.
			opts.Password = func(string, string) ([]byte, error) { return []byte("nope"), nil }
			if _, err := Dial(context.Background(), loc, opts); err == nil || !transport.IsPermanent(err) || !strings.Contains(err.Error(), "unable to authenticate") {
				t.Fatalf("wrong password: %v", err)
			}

			// From the callback, asked once however many connections are made.
			asked := 0
			opts.Password = func(user, addr string) ([]byte, error) {
				asked++
				if user != "gateway" || addr != srv.Addr {
					return nil, errors.New("asked for the wrong login " + user + "@" + addr)
				}
				return []byte("s3cret"), nil
			}
			b, err = Dial(context.Background(), loc, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			rc, err := b.Open(context.Background(), "hello.txt", 0)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(rc)
			rc.Close()
			if string(got) != "hi" || asked != 1 {
				t.Errorf("read %q, password asked %d times", got, asked)
			}

			// Neither a key nor a password: the error says what to do.
			opts.Password = nil
			if _, err := Dial(context.Background(), loc, opts); err == nil || !strings.Contains(err.Error(), PasswordEnv) {
				t.Errorf("no credentials: %v", err)
			}
		})
	}
}

// TestPasswordLoginOpenSSH logs in to a real sshd with a password (the server checks it
// against /etc/shadow) and moves a file both ways.
func TestPasswordLoginOpenSSH(t *testing.T) {
	testserver.RealTests(t)
	srv := testserver.StartSSHDPassword(t)
	// The login account is not root: a directory it can reach (t.TempDir's parent is 0700).
	dir, err := os.MkdirTemp("", "imgx-sftp-password-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	opts := Options{KnownHosts: srv.Keys.KnownHosts, SSHConfig: "none", NoAgent: true}
	loc := location(t, srv.Addr, testserver.FTPUser, dir)

	opts.Password = func(string, string) ([]byte, error) { return []byte("wrong"), nil }
	if _, err := Dial(context.Background(), loc, opts); err == nil || !transport.IsPermanent(err) {
		t.Fatalf("wrong password: %v", err)
	}
	opts.Password = func(string, string) ([]byte, error) { return []byte(testserver.FTPPassword), nil }
	b, err := Dial(context.Background(), loc, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	data := strings.Repeat("imgx over a password login\n", 10000)
	if _, err := transport.Put(context.Background(), b, "p.txt", strings.NewReader(data), transport.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(dir + "/p.txt")
	if err != nil || string(got) != data {
		t.Fatalf("file on the server: %d bytes, %v", len(got), err)
	}
}
