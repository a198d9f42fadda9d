package main

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/imgx/imgx/internal/testserver"
	"github.com/imgx/imgx/ref"
	"github.com/imgx/imgx/store"
)

// startServe runs `imgx serve --addr 127.0.0.1:0` on st and returns the address it
// printed, the process and its stderr (the access log).
func startServe(t *testing.T, st string, args ...string) (string, *exec.Cmd, *syncBuf) {
	t.Helper()
	cmd := exec.Command(imgxBin(t), append([]string{"--store", st, "serve", "--addr", "127.0.0.1:0"}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &syncBuf{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("imgx serve printed no address: %v\n%s", err, stderr.String())
	}
	i := strings.LastIndex(line, "://")
	if i < 0 {
		t.Fatalf("imgx serve: %q", line)
	}
	go io.Copy(io.Discard, out)
	return strings.TrimSpace(line[i+3:]), cmd, stderr
}

// syncBuf is a buffer written by a process and read by the test.
type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServeRealClients pulls from `imgx serve` with skopeo and podman (vfs storage): the
// pulled manifest digests equal the store's. Then SIGTERM stops it with exit 0, and the
// JSON access log has one line per request.
func TestServeRealClients(t *testing.T) {
	testserver.RequireTool(t, "skopeo", "apt-get install skopeo")
	testserver.RequireTool(t, "podman", "apt-get install podman")
	work := t.TempDir()
	dir := filepath.Join(work, "store")
	s, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	base := randomLayer(t, 1, 256<<10)
	if err := writeLayered(s, "example/app:1.0", base, randomLayer(t, 2, 64<<10)); err != nil {
		t.Fatal(err)
	}
	if err := writeLayered(s, "registry.example/team/web:2", base, randomLayer(t, 3, 32<<10)); err != nil {
		t.Fatal(err)
	}
	digestOf := func(name string) string {
		r, _ := ref.ParseNamed(name)
		ents, err := s.Entries()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if e.Ref.String() == r.String() {
				return e.Desc.Digest.String()
			}
		}
		t.Fatalf("%s not in store", name)
		return ""
	}
	addr, cmd, logs := startServe(t, dir, "--log-format", "json")

	// skopeo: docker:// to a dir: layout, which keeps the manifest byte for byte (oci:
	// would convert a Docker schema-2 manifest).
	pulled := filepath.Join(work, "pulled")
	if out, err := exec.Command("skopeo", "copy", "--src-tls-verify=false", "docker://"+addr+"/example/app:1.0", "dir:"+pulled).CombinedOutput(); err != nil {
		t.Fatalf("skopeo copy: %v\n%s\n%s", err, out, logs.String())
	}
	m, err := os.ReadFile(filepath.Join(pulled, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := digest.FromBytes(m).String(), digestOf("example/app:1.0"); got != want {
		t.Errorf("skopeo pulled %s, store has %s", got, want)
	}

	// podman: vfs storage under the test's directory, no daemon.
	pbase := []string{"--storage-driver", "vfs", "--root", filepath.Join(work, "podman-root"), "--runroot", filepath.Join(work, "podman-run"), "--events-backend", "none", "--cgroup-manager", "cgroupfs"}
	podman := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("podman", append(pbase, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("podman %s: %v\n%s\n%s", strings.Join(args, " "), err, out, logs.String())
		}
		return strings.TrimSpace(string(out))
	}
	podman("pull", "--tls-verify=false", addr+"/team/web:2")
	if got, want := podman("image", "inspect", "--format", "{{.Digest}}", addr+"/team/web:2"), digestOf("registry.example/team/web:2"); got != want {
		t.Errorf("podman pulled %s, store has %s", got, want)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("imgx serve after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("imgx serve did not stop within 20 s of SIGTERM")
	}
	var n int
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec struct {
			Msg, Method, Path, Remote string
			Status                    int
			Bytes                     int64
			Duration                  int64
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("access log line is not JSON: %q", line)
		}
		if rec.Msg == "request" && rec.Method != "" && rec.Path != "" && rec.Status != 0 && rec.Remote != "" {
			n++
		}
	}
	if n < 6 {
		t.Errorf("%d access log records for two pulls:\n%s", n, logs.String())
	}
}
