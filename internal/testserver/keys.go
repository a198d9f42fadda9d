package testserver

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSHKeys are the files a test client needs.
type SSHKeys struct {
	Dir        string
	ClientKey  string // OpenSSH private key file of the client
	ClientPub  ssh.PublicKey
	HostKey    string // OpenSSH private key file of the server
	HostSigner ssh.Signer
	KnownHosts string // known_hosts for the server, filled by WriteKnownHosts
}

// NewSSHKeys generates an ed25519 host key and client key in a temp dir.
func NewSSHKeys(t testing.TB) *SSHKeys {
	t.Helper()
	dir := t.TempDir()
	k := &SSHKeys{Dir: dir, ClientKey: filepath.Join(dir, "id_ed25519"), HostKey: filepath.Join(dir, "host_ed25519"),
		KnownHosts: filepath.Join(dir, "known_hosts")}
	hs, _ := writeKey(t, k.HostKey, nil)
	k.HostSigner = hs
	cs, _ := writeKey(t, k.ClientKey, nil)
	k.ClientPub = cs.PublicKey()
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), ssh.MarshalAuthorizedKey(k.ClientPub), 0o600); err != nil {
		t.Fatal(err)
	}
	return k
}

// WriteKey writes a new ed25519 key to file, encrypted when passphrase is
// not nil, and returns its signer.
func WriteKey(t testing.TB, file string, passphrase []byte) ssh.Signer {
	s, _ := writeKey(t, file, passphrase)
	return s
}

func writeKey(t testing.TB, file string, passphrase []byte) (ssh.Signer, ed25519.PrivateKey) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	if passphrase != nil {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "imgx test", passphrase)
	} else {
		block, err = ssh.MarshalPrivateKey(priv, "imgx test")
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file+".pub", ssh.MarshalAuthorizedKey(s.PublicKey()), 0o644); err != nil {
		t.Fatal(err)
	}
	return s, priv
}

// WriteKnownHosts records key as the host key of addr in file.
func WriteKnownHosts(t testing.TB, file, addr string, key ssh.PublicKey) {
	t.Helper()
	line := knownhosts.Line([]string{knownhosts.Normalize(addr)}, key)
	if err := os.WriteFile(file, []byte(line+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func hostPort(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

func dialTCP(addr string) (net.Conn, error) { return net.DialTimeout("tcp", addr, time.Second) }
