package testserver

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FTP test account. vsftpd authenticates through PAM, so the tests use a
// dedicated local user with no login shell and a PAM service of their own
// that only checks the password.
const (
	FTPUser     = "imgxftp"
	FTPPassword = "imgx-test-only"
	ftpPAM      = "imgx-ftp-test"
)

// FTPD is a running vsftpd.
type FTPD struct {
	Addr     string
	User     string
	Password string
	Root     string // the login directory
	CAFile   string // certificate to trust, when TLS is on
	cmd      *exec.Cmd
	log      *bytes.Buffer
}

// EnsureFTPUser creates the test account and its PAM service (root only).
func EnsureFTPUser() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("creating the FTP test user needs root")
	}
	pam := "/etc/pam.d/" + ftpPAM
	if _, err := os.Stat(pam); err != nil {
		if err := os.WriteFile(pam, []byte("auth required pam_unix.so\naccount required pam_unix.so\nsession required pam_permit.so\n"), 0o644); err != nil {
			return err
		}
	}
	if exec.Command("id", FTPUser).Run() != nil {
		if out, err := exec.Command("useradd", "--system", "--no-create-home", "--home-dir", "/",
			"--shell", "/usr/sbin/nologin", FTPUser).CombinedOutput(); err != nil {
			return fmt.Errorf("useradd: %v: %s", err, out)
		}
	}
	exec.Command("usermod", "--home", "/", FTPUser).Run() // vsftpd enters the home directory before local_root
	cmd := exec.Command("chpasswd")
	cmd.Stdin = strings.NewReader(FTPUser + ":" + FTPPassword + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("chpasswd: %v: %s", err, out)
	}
	return nil
}

// StartVsftpd runs vsftpd in the foreground on a free 127.0.0.1 port,
// with explicit TLS (AUTH TLS, required) when withTLS is set, and stops it
// by PID when t ends. It is gated like RequireTool: it skips t unless IMGX_REAL_TESTS=1
// and fails t under the switch when vsftpd is missing or the tests do not run as root.
func StartVsftpd(t testing.TB, withTLS bool) *FTPD {
	t.Helper()
	bin := RequireTool(t, "vsftpd", "apt-get install vsftpd", "/usr/sbin/vsftpd")
	RequireCapability(t, "the FTP test account", EnsureFTPUser(), "run the tests as root (vsftpd logs in a local user)")
	os.MkdirAll("/var/run/vsftpd/empty", 0o755)
	dir := t.TempDir()
	// The FTP user must be able to reach its root through the test dirs.
	os.Chmod(dir, 0o755)
	os.Chmod(filepath.Dir(dir), 0o755)
	root := filepath.Join(dir, "root")
	os.Mkdir(root, 0o777)
	os.Chmod(root, 0o777)
	port := FreePort(t)
	conf := fmt.Sprintf(`listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=%d
background=NO
anonymous_enable=NO
local_enable=YES
write_enable=YES
local_umask=022
local_root=%s
pam_service_name=%s
userlist_enable=NO
check_shell=NO
seccomp_sandbox=NO
isolate=NO
isolate_network=NO
pasv_enable=YES
pasv_address=127.0.0.1
pasv_min_port=%d
pasv_max_port=%d
xferlog_enable=NO
vsftpd_log_file=%s
dual_log_enable=NO
syslog_enable=NO
use_localtime=NO
secure_chroot_dir=/var/run/vsftpd/empty
`, port, root, ftpPAM, 40000+port%20000, 40000+port%20000+50, filepath.Join(dir, "vsftpd.log"))
	f := &FTPD{Addr: hostPort(port), User: FTPUser, Password: FTPPassword, Root: root, log: &bytes.Buffer{}}
	if withTLS {
		cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
		WriteCert(t, cert, key, "127.0.0.1")
		f.CAFile = cert
		conf += fmt.Sprintf(`ssl_enable=YES
rsa_cert_file=%s
rsa_private_key_file=%s
force_local_logins_ssl=YES
force_local_data_ssl=YES
ssl_tlsv1=NO
ssl_sslv2=NO
ssl_sslv3=NO
require_ssl_reuse=NO
ssl_ciphers=HIGH
`, cert, key)
	}
	cfg := filepath.Join(dir, "vsftpd.conf")
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	f.cmd = exec.Command(bin, cfg)
	f.cmd.Stdout, f.cmd.Stderr = f.log, f.log
	if err := f.cmd.Start(); err != nil {
		t.Fatalf("start vsftpd: %v", err)
	}
	t.Cleanup(func() {
		f.cmd.Process.Kill()
		f.cmd.Wait()
		if t.Failed() {
			l, _ := os.ReadFile(filepath.Join(dir, "vsftpd.log"))
			t.Logf("vsftpd output:\n%s\n%s", f.log, l)
		}
	})
	waitPort(t, f.Addr, f.log)
	return f
}

// WriteCert writes a self-signed ECDSA certificate for host and its key.
func WriteCert(t testing.TB, certFile, keyFile, host string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: host},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
}
