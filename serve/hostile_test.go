package serve

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/imgx/imgx/internal/testutil"
	"github.com/imgx/imgx/store"
)

const secret = "TOP SECRET: this file is outside the store"

// hostileSetup seeds a store next to a sentinel directory holding a secret, and plants
// a symbolic link inside blobs/sha256, named by the secret's digest, that leads to it; an
// image references that digest as a layer, so only confinement keeps the secret in.
func hostileSetup(t *testing.T) (s *seeded, sentinel string, linked digest.Digest) {
	t.Helper()
	s = seed(t)
	sentinel = t.TempDir()
	secretPath := filepath.Join(sentinel, "secret")
	if err := os.WriteFile(secretPath, []byte(secret), 0o644); err != nil {
		t.Fatal(err)
	}
	// An image whose layer is the secret's bytes, then the blob replaced by a link out.
	st := s.st
	linked = digest.FromString(secret)
	writeArtifactWithLayer(t, st, "application/vnd.oci.image.layer.v1.tar", []byte(secret), "linked:1")
	blob := st.BlobPath(linked)
	if err := os.Remove(blob); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secretPath, blob); err != nil {
		t.Fatal(err)
	}
	return s, sentinel, linked
}

// rawRequest sends request bytes as they are (no client-side cleaning of the path)
// and returns the status and body.
func rawRequest(t testing.TB, addr, req string) (int, string) {
	t.Helper()
	status, body, err := sendRaw(addr, req)
	if err != nil {
		t.Fatalf("%.100q: %v", req, err)
	}
	return status, body
}

// sendRaw is rawRequest for goroutines other than the test's: it returns the error.
func sendRaw(addr, req string) (int, string, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		return 0, "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	return resp.StatusCode, string(body), err
}

func get(path string, hdr ...string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: x\r\n" + strings.Join(hdr, "") + "Connection: close\r\n\r\n"
}

// hostileCase is a request a hostile client may send, with the status it must get.
type hostileCase struct {
	name, req string
	status    int
	reset     bool // a connection reset also counts as refused
}

// answered checks one reply to c: the status, or a reset where that counts as refused.
func (c hostileCase) answered(status int, err error) bool {
	if err != nil {
		return c.reset && (errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE))
	}
	return status == c.status
}

// hostileCases are requests a hostile client may send, with the status each must get.
func hostileCases(s *seeded, linked digest.Digest) []hostileCase {
	layer := s.layer.Digest.String()
	many := strings.Repeat("0-0,", 2000) + "0-0"
	return []hostileCase{
		{"dot-dot name", get("/v2/../../../etc/passwd/blobs/" + layer), 400, false},
		{"dot-dot in digest", get("/v2/app/blobs/sha256:../../../../secret"), 400, false},
		{"encoded dots", get("/v2/%2e%2e/%2e%2e/blobs/" + layer), 400, false},
		{"encoded slash", get("/v2/app%2Fblobs%2F" + layer + "/blobs/" + layer), 400, false},
		{"encoded slash in digest", get("/v2/app/blobs/sha256%3A..%2F..%2Fsecret"), 400, false},
		{"backslash", get(`/v2/app/blobs/sha256:..\..\secret`), 400, false},
		{"absolute path as name", get("/v2//etc/passwd/manifests/latest"), 400, false},
		{"uppercase name", get("/v2/APP/manifests/1.0"), 400, false},
		{"bad tag", get("/v2/app/manifests/-bad"), 400, false},
		{"bad digest hex", get("/v2/app/blobs/sha256:" + strings.Repeat("g", 64)), 400, false},
		{"short digest", get("/v2/app/blobs/sha256:abc"), 400, false},
		{"unknown algorithm", get("/v2/app/blobs/md5:d41d8cd98f00b204e9800998ecf8427e"), 400, false},
		{"unknown digest", get("/v2/app/blobs/" + digest.FromString("x").String()), 404, false},
		{"digest of a file outside, via link", get("/v2/app/blobs/" + linked.String()), 500, false},
		{"digest of a file outside, not reachable", get("/v2/app/blobs/" + digest.FromString(secret+"\n").String()), 404, false},
		{"unknown repository", get("/v2/nope/blobs/" + layer), 404, false},
		{"not v2", get("/etc/passwd"), 404, false},
		{"long path", get("/v2/" + strings.Repeat("a/", 3000) + "manifests/x"), 414, false},
		{"range past end", get("/v2/app/blobs/"+layer, "Range: bytes=999999999-\r\n"), 416, false},
		{"range overflow", get("/v2/app/blobs/"+layer, "Range: bytes=0-99999999999999999999999999\r\n"), 416, false},
		{"range garbage", get("/v2/app/blobs/"+layer, "Range: bytes=a-b\r\n"), 416, false},
		{"range thousands", get("/v2/app/blobs/"+layer, "Range: bytes="+many+"\r\n"), 416, false},
		{"range overlapping", get("/v2/app/blobs/"+layer, "Range: bytes=0-,0-,0-,0-,0-\r\n"), 200, false}, // more than the blob: ignored, whole blob once
		// The server answers 431 and closes with part of the request unread, which
		// may reach the client as a reset before or instead of the answer.
		{"huge header", get("/v2/", "X-Big: "+strings.Repeat("a", 80<<10)+"\r\n"), 431, true},
		{"huge n", get("/v2/app/tags/list?n=999999999999999999999999"), 400, false},
		{"big n", get("/v2/app/tags/list?n=2000000000"), 200, false},
		{"bad n", get("/v2/_catalog?n=abc"), 400, false},
		{"method", "FOO /v2/app/manifests/1.0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 405, false},
		{"put", "PUT /v2/app/manifests/1.0 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}", 405, false},
		{"upload", "POST /v2/app/blobs/uploads/ HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", 405, false},
	}
}

// TestHostileRequests sends path tricks, bad digests, unknown digests, malicious Range
// headers and oversized requests: each gets its status, no response carries the secret
// outside the store, and the store and the sentinel tree are byte-identical after.
func TestHostileRequests(t *testing.T) {
	s, sentinel, linked := hostileSetup(t)
	before, storeBefore := testutil.TreeHash(t, sentinel), testutil.TreeHash(t, s.st.Root())
	addr := serveStore(t, s.st, Options{})
	for _, c := range hostileCases(s, linked) {
		t.Run(c.name, func(t *testing.T) {
			status, body, err := sendRaw(addr, c.req)
			if !c.answered(status, err) {
				t.Errorf("status %d (%v), want %d: %.300s", status, err, c.status, body)
			}
			if strings.Contains(body, "TOP SECRET") {
				t.Errorf("response carries the file outside the store")
			}
			if status == 200 && len(body) > 1<<20 {
				t.Errorf("%d bytes for one %d-byte blob", len(body), s.layer.Size)
			}
		})
	}
	if testutil.TreeHash(t, sentinel) != before {
		t.Error("sentinel tree changed")
	}
	if testutil.TreeHash(t, s.st.Root()) != storeBefore {
		t.Error("store changed")
	}
}

// TestHostileSlowLoris opens connections that send half a request and stop, and one
// that requests a blob and never reads: the server drops both after its timeouts and
// still answers others meanwhile.
func TestHostileSlowLoris(t *testing.T) {
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, layers := writeImage(t, st, 9, []int{32 << 20}, "big:1")
	addr := serveStore(t, st, Options{ReadHeaderTimeout: 300 * time.Millisecond, StallTimeout: 500 * time.Millisecond})
	var conns []net.Conn
	for range 20 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, "GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Slow: ")
		conns = append(conns, c)
	}
	stalled, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(stalled, get("/v2/big/blobs/"+layers[0].Digest.String()))
	if status, _ := rawRequest(t, addr, get("/v2/")); status != 200 {
		t.Fatalf("ping while slow clients hang: %d", status)
	}
	for i, c := range append(conns, stalled) {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		start := time.Now()
		_, err := io.Copy(io.Discard, c) // returns when the server closes the connection
		if err != nil {
			t.Errorf("connection %d: not closed by the server within 5 s: %v", i, err)
		}
		if i == len(conns) && time.Since(start) > 4*time.Second {
			t.Errorf("stalled reader kept for %v", time.Since(start))
		}
		c.Close()
	}
}

func openFDs(t testing.TB) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("count open files: %v", err)
	}
	return len(ents)
}

// TestHostileNoLeak sends 10,000 hostile requests (the cases above, and blob downloads
// abandoned after a few bytes) from 16 clients at once, then checks that goroutines
// and open file descriptors return to where they were.
func TestHostileNoLeak(t *testing.T) {
	s, sentinel, linked := hostileSetup(t)
	before := testutil.TreeHash(t, sentinel)
	addr := serveStore(t, s.st, Options{ReadHeaderTimeout: time.Second, StallTimeout: time.Second, IdleTimeout: time.Second})
	cases := hostileCases(s, linked)
	abandon := get("/v2/app/blobs/" + s.layer.Digest.String())
	rawRequest(t, addr, get("/v2/app/tags/list")) // warm the view
	runtime.GC()
	g0, fd0 := runtime.NumGoroutine(), openFDs(t)

	const total, workers = 10000, 16
	var wg sync.WaitGroup
	var mu sync.Mutex
	bad := map[string]int{}
	for w := range workers {
		wg.Go(func() {
			for i := w; i < total; i += workers {
				if i%10 == 0 { // a download dropped after its first bytes
					c, err := net.Dial("tcp", addr)
					if err != nil {
						t.Error(err)
						return
					}
					io.WriteString(c, abandon)
					c.Read(make([]byte, 512))
					c.Close()
					continue
				}
				c := cases[i%len(cases)]
				status, body, err := sendRaw(addr, c.req)
				if !c.answered(status, err) || strings.Contains(body, "TOP SECRET") {
					mu.Lock()
					bad[fmt.Sprintf("%s: %d", c.name, status)]++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(bad) > 0 {
		t.Errorf("unexpected answers: %v", bad)
	}
	deadline := time.Now().Add(15 * time.Second)
	var g, fd int
	for {
		runtime.GC()
		g, fd = runtime.NumGoroutine(), openFDs(t)
		if g <= g0 && fd <= fd0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("goroutines %d → %d, open files %d → %d after %d hostile requests", g0, g, fd0, fd, total)
	if g > g0 {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines: %d before, %d after\n%s", g0, g, buf[:runtime.Stack(buf, true)])
	}
	if fd > fd0 {
		t.Errorf("open files: %d before, %d after", fd0, fd)
	}
	if testutil.TreeHash(t, sentinel) != before {
		t.Error("sentinel tree changed")
	}
}

// TestHostileManyConnections holds MaxConns idle connections open: a further client
// waits (no file or goroutine is spent on it) and is served as soon as one closes.
func TestHostileManyConnections(t *testing.T) {
	s := seed(t)
	addr := serveStore(t, s.st, Options{MaxConns: 2})
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	time.Sleep(100 * time.Millisecond) // both accepted
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, get("/v2/"))
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, _ := c.Read(make([]byte, 1)); n != 0 {
		t.Fatal("a third connection was served while two were held")
	}
	held[0].Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after one closed: %v %v", resp, err)
	}
}
