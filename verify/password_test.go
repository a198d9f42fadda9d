package verify

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/imgx/imgx/internal/testserver"
)

func TestPasswordFromEnv(t *testing.T) {
	t.Setenv("IMGX_TEST_PW", "from env")
	pw, err := PasswordFromEnvOrTerminal("IMGX_TEST_PW", "", false)()
	if err != nil || string(pw) != "from env" {
		t.Fatalf("= %q, %v", pw, err)
	}
	// Set but empty is an empty password, not "unset".
	t.Setenv("IMGX_PASSWORD", "")
	pw, err = PasswordFromEnvOrTerminal("", "", true)()
	if err != nil || pw == nil || len(pw) != 0 {
		t.Fatalf("empty IMGX_PASSWORD = %#v, %v; want empty non-nil", pw, err)
	}
	// COSIGN_PASSWORD is never read implicitly.
	unsetenv(t, "IMGX_PASSWORD")
	t.Setenv("COSIGN_PASSWORD", "cosign's")
	withTTY(t, filepath.Join(t.TempDir(), "no-tty"))
	if term.IsTerminal(int(os.Stdin.Fd())) {
		t.Skip("stdin is a terminal")
	}
	if _, err := PasswordFromEnvOrTerminal("", "", false)(); !errors.Is(err, ErrNoPassword) {
		t.Fatalf("no env, no tty: %v, want ErrNoPassword", err)
	}
	if ErrNoPassword.Error() != "no password: set IMGX_PASSWORD or run on a terminal" {
		t.Fatalf("ErrNoPassword = %q", ErrNoPassword)
	}
}

// unsetenv removes k for the test and restores it afterwards.
func unsetenv(t *testing.T, k string) {
	t.Setenv(k, "")
	os.Unsetenv(k)
}

func withTTY(t *testing.T, path string) {
	old := ttyPath
	ttyPath = path
	t.Cleanup(func() { ttyPath = old })
}

// openPTY returns the master side and the path of the slave side of a new
// pseudo-terminal.
func openPTY(t *testing.T) (*os.File, string) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	const how = "run where /dev/ptmx and /dev/pts work (docker run mounts them)"
	testserver.HostCapability(t, "pseudo-terminals", err, how)
	t.Cleanup(func() { m.Close() })
	testserver.HostCapability(t, "pseudo-terminals (unlock)", unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0), how)
	n, err := unix.IoctlGetUint32(int(m.Fd()), unix.TIOCGPTN)
	testserver.HostCapability(t, "pseudo-terminals (number)", err, how)
	// Drain what the code writes (prompts) so it never blocks.
	go io.Copy(io.Discard, m)
	return m, fmt.Sprintf("/dev/pts/%d", n)
}

func TestPasswordFromTerminal(t *testing.T) {
	unsetenv(t, "IMGX_PASSWORD")
	tests := []struct {
		name    string
		input   string
		confirm bool
		want    string
		wantErr bool
	}{
		{name: "once", input: "hunter2\n", want: "hunter2"},
		{name: "empty", input: "\n", want: ""},
		{name: "confirmed", input: "s3cret\ns3cret\n", confirm: true, want: "s3cret"},
		{name: "confirm mismatch", input: "s3cret\nsecret\n", confirm: true, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, slave := openPTY(t)
			withTTY(t, slave)
			if _, err := m.WriteString(tt.input); err != nil {
				t.Fatal(err)
			}
			pw, err := PasswordFromEnvOrTerminal("IMGX_TEST_UNSET_PW", "Password: ", tt.confirm)()
			if tt.wantErr {
				if err == nil {
					t.Fatalf("got %q, want error", pw)
				}
				return
			}
			if err != nil || string(pw) != tt.want || pw == nil {
				t.Fatalf("= %#v, %v; want %q", pw, err, tt.want)
			}
		})
	}
}

func TestPasswordFromTerminalDecryptsKey(t *testing.T) {
	unsetenv(t, "IMGX_PASSWORD")
	privPEM, _, err := GenerateKeyPair([]byte("typed"))
	if err != nil {
		t.Fatal(err)
	}
	m, slave := openPTY(t)
	withTTY(t, slave)
	m.WriteString("typed\n")
	if _, err := LoadPrivateKey(privPEM, PasswordFromEnvOrTerminal("", "", false)); err != nil {
		t.Fatal(err)
	}
}
