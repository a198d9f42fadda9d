package testserver

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// SSHD is a running OpenSSH sshd.
type SSHD struct {
	Addr string
	User string
	Keys *SSHKeys
	cmd  *exec.Cmd
	log  *bytes.Buffer
}

// StartSSHD runs /usr/sbin/sshd -D on a free 127.0.0.1 port with a fresh
// host key, accepting Keys.ClientKey for the current user, with OpenSSH's
// sftp-server, and stops sshd by PID when t ends. It is gated like RequireTool: it skips
// t unless IMGX_REAL_TESTS=1 and fails t under the switch when sshd is not installed.
func StartSSHD(t testing.TB) *SSHD {
	t.Helper()
	return startSSHD(t, false)
}

// StartSSHDPassword is StartSSHD that also lets FTPUser log in with FTPPassword
// (password authentication, checked by sshd against /etc/shadow; root only), confined
// to internal-sftp since that account has no shell.
func StartSSHDPassword(t testing.TB) *SSHD {
	t.Helper()
	RequireCapability(t, "the FTP/SFTP password test account", EnsureFTPUser(), "run the tests as root")
	return startSSHD(t, true)
}

func startSSHD(t testing.TB, password bool) *SSHD {
	t.Helper()
	sshd := RequireTool(t, "sshd", "apt-get install openssh-server", "/usr/sbin/sshd")
	sftpServer := ""
	for _, p := range []string{"/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server", "/usr/libexec/sftp-server"} {
		if _, err := os.Stat(p); err == nil {
			sftpServer = p
			break
		}
	}
	if sftpServer == "" {
		RequireCapability(t, "OpenSSH's sftp-server", errors.New("not in /usr/lib/openssh or /usr/libexec"), "apt-get install openssh-sftp-server")
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll("/run/sshd", 0o755) // privilege separation directory
	keys := NewSSHKeys(t)
	port := FreePort(t)
	cfg := filepath.Join(keys.Dir, "sshd_config")
	conf := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s
PidFile %s
AuthorizedKeysFile %s
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
UsePAM no
LogLevel ERROR
Subsystem sftp %s
`, port, keys.HostKey, filepath.Join(keys.Dir, "sshd.pid"), filepath.Join(keys.Dir, "authorized_keys"), sftpServer)
	if password {
		conf = strings.Replace(conf, "PasswordAuthentication no", "PasswordAuthentication yes", 1)
		conf += "Match User " + FTPUser + "\n    ForceCommand internal-sftp\n"
	}
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &SSHD{Addr: hostPort(port), User: u.Username, Keys: keys, log: &bytes.Buffer{}}
	WriteKnownHosts(t, keys.KnownHosts, s.Addr, keys.HostSigner.PublicKey())
	s.cmd = exec.Command(sshd, "-D", "-e", "-f", cfg)
	s.cmd.Stderr = s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start sshd: %v", err)
	}
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		s.cmd.Wait()
		if t.Failed() && s.log.Len() > 0 {
			t.Logf("sshd log:\n%s", s.log)
		}
	})
	waitPort(t, s.Addr, s.log)
	return s
}

func waitPort(t testing.TB, addr string, log *bytes.Buffer) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := dialTCP(addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("server on %s did not start: %s", addr, log)
}
