package testserver

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// RegistryBin is where Debian's docker-registry package (CNCF distribution
// 2.8) installs the registry.
const RegistryBin = "/usr/bin/docker-registry"

// RegistryRealm is the basic-auth realm of a registry started with a user.
const RegistryRealm = "imgx-test"

// RegistryOptions selects how StartRegistry serves.
type RegistryOptions struct {
	TLS bool // HTTPS with a fresh self-signed certificate for 127.0.0.1
	// User and Password, when User is set, require HTTP basic auth
	// (htpasswd, bcrypt). The registry accepts it over plain HTTP too.
	User, Password string
}

// Registry is a running distribution registry (docker-registry serve).
type Registry struct {
	Addr           string // 127.0.0.1:PORT
	Root           string // filesystem storage root (docker/registry/v2/... below it)
	CAFile         string // certificate to trust, when TLS is on
	User, Password string
	Config         string // the config file it was started with
	tls            bool
	cmd            *exec.Cmd
	log            *lockedBuffer
}

// StartRegistry runs docker-registry on a free 127.0.0.1 port with storage
// under t.TempDir() and deletes enabled, waits until GET /v2/ answers, and
// stops it by PID when t ends, showing its log (level warn) if t failed. It is gated
// like RequireTool: it skips t unless IMGX_REAL_TESTS=1 and fails t under the switch
// when docker-registry is not installed.
func StartRegistry(t testing.TB, o RegistryOptions) *Registry {
	t.Helper()
	bin := RequireTool(t, "docker-registry", "apt-get install docker-registry", RegistryBin)
	dir := t.TempDir()
	r := &Registry{
		Addr:     hostPort(FreePort(t)),
		Root:     filepath.Join(dir, "storage"),
		User:     o.User,
		Password: o.Password,
		Config:   filepath.Join(dir, "config.yml"),
		tls:      o.TLS,
		log:      &lockedBuffer{},
	}
	if err := os.Mkdir(r.Root, 0o755); err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 16)
	rand.Read(secret)
	// An explicit file, so nothing comes from /etc/docker/registry or /var/lib.
	// Upload purging is off: it walks the storage in the background.
	conf := fmt.Sprintf(`version: 0.1
log:
  level: warn
  formatter: text
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
  secret: %s
`, r.Root, r.Addr, hex.EncodeToString(secret))
	if o.TLS {
		cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
		WriteCert(t, cert, key, "127.0.0.1")
		r.CAFile = cert
		conf += fmt.Sprintf("  tls:\n    certificate: %s\n    key: %s\n", cert, key)
	}
	if o.User != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(o.Password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, fmt.Appendf(nil, "%s:%s\n", o.User, hash), 0o600); err != nil {
			t.Fatal(err)
		}
		conf += fmt.Sprintf("auth:\n  htpasswd:\n    realm: %s\n    path: %s\n", RegistryRealm, htpasswd)
	}
	if err := os.WriteFile(r.Config, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}

	r.cmd = exec.Command(bin, "serve", r.Config)
	r.cmd.Env = registryEnv()
	r.cmd.Stdout, r.cmd.Stderr = r.log, r.log
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("start docker-registry: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- r.cmd.Wait() }()
	t.Cleanup(func() {
		r.cmd.Process.Kill()
		<-exited
		if t.Failed() && r.log.Len() > 0 {
			t.Logf("docker-registry log:\n%s", r.log)
		}
	})
	r.waitReady(t, exited)
	return r
}

// registryEnv is the environment without REGISTRY_* variables, which
// would override the config file.
func registryEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "REGISTRY_") {
			env = append(env, kv)
		}
	}
	return env
}

func (r *Registry) waitReady(t testing.TB, exited chan error) {
	t.Helper()
	c := &http.Client{Transport: r.Transport(), Timeout: time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err // for the cleanup
			t.Fatalf("docker-registry exited at start (%v):\n%s", err, r.log)
		default:
		}
		resp, err := c.Get(r.URL() + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return
			}
			err = fmt.Errorf("GET /v2/: %s", resp.Status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker-registry on %s did not answer: %v\n%s", r.Addr, err, r.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// URL is the registry's base URL: https://127.0.0.1:PORT or http://….
func (r *Registry) URL() string {
	if r.tls {
		return "https://" + r.Addr
	}
	return "http://" + r.Addr
}

// Transport is an HTTP transport that trusts CAFile (when TLS is on) and
// nothing else, so a test cannot pass by reaching some other server.
func (r *Registry) Transport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if r.CAFile != "" {
		pool := x509.NewCertPool()
		pem, err := os.ReadFile(r.CAFile)
		if err == nil {
			pool.AppendCertsFromPEM(pem)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return tr
}

// lockedBuffer is a bytes.Buffer the registry's output goroutine and the
// test can use at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Len()
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
