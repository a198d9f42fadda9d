package serve

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func TestParseHtpasswd(t *testing.T) {
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	for _, c := range []struct {
		name, file string
		err        string
	}{
		{"bcrypt", "# users\n\nalice:" + string(hash) + "\n", ""},
		{"md5", "bob:$apr1$abc$defghijklmnopqrstuvwx.\n", "not a bcrypt hash"},
		{"sha1", "bob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n", "not a bcrypt hash"},
		{"crypt", "bob:abJnggxhB/yWI\n", "not a bcrypt hash"},
		{"plain", "bob:secret\n", "not a bcrypt hash"},
		{"no colon", "bob\n", "want user:hash"},
		{"empty", "# nobody\n", "no users"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseHtpasswd(strings.NewReader(c.file))
			if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
				t.Fatalf("error %v, want %q", err, c.err)
			}
		})
	}
}

// TestServeAuthTLS serves over TLS with basic auth: no or wrong credentials get 401
// with a Basic challenge, the right ones pull.
func TestServeAuthTLS(t *testing.T) {
	s := seed(t)
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	hash, _ := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	auth, err := ParseHtpasswd(strings.NewReader("alice:" + string(hash) + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	addr := serveStore(t, s.st, Options{TLSCertFile: certFile, TLSKeyFile: keyFile, Auth: auth})
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	try := func(user, pass string) *http.Response {
		req, _ := http.NewRequest("GET", "https://"+addr+"/v2/app/manifests/1.0", nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, c := range []struct{ user, pass string }{{"", ""}, {"alice", "wrong"}, {"mallory", "s3cret"}} {
		resp := try(c.user, c.pass)
		if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
			t.Errorf("%q/%q: %d %q", c.user, c.pass, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
	for range 2 { // the second time from the verified-password cache
		if resp := try("alice", "s3cret"); resp.StatusCode != 200 || resp.Header.Get("Docker-Content-Digest") != s.app.Digest.String() {
			t.Errorf("alice: %d", resp.StatusCode)
		}
	}
	if resp, err := http.Get("http://" + addr + "/v2/"); err == nil && resp.StatusCode != http.StatusBadRequest {
		t.Errorf("plain HTTP on the TLS port: %d", resp.StatusCode)
	}
}

func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "imgx test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
