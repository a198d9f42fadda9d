package prompt

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/imgx/imgx/internal/testserver"
)

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

func TestSecret(t *testing.T) {
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
			pw, err := Secret("Password: ", tt.confirm)
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

func TestLine(t *testing.T) {
	m, slave := openPTY(t)
	withTTY(t, slave)
	m.WriteString("alice\n")
	if got, err := Line("Username: "); err != nil || got != "alice" {
		t.Fatalf("= %q, %v", got, err)
	}
}

// TestNoTerminal: without /dev/tty and with a standard input that is not a terminal
// (cron, a pipe), nothing is read and the error is ErrNoTerminal.
func TestNoTerminal(t *testing.T) {
	withTTY(t, filepath.Join(t.TempDir(), "no-tty"))
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	old := stdin
	stdin = f
	t.Cleanup(func() { stdin = old })
	if _, err := Secret("x: ", false); !errors.Is(err, ErrNoTerminal) {
		t.Errorf("Secret without a terminal: %v", err)
	}
	if _, err := Line("x: "); !errors.Is(err, ErrNoTerminal) {
		t.Errorf("Line without a terminal: %v", err)
	}
}
