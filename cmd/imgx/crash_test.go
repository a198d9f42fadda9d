package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imgx/imgx/ingest"
	"github.com/imgx/imgx/internal/testutil"
)

// TestCampaignImport kills imgx import at random time points (SIGKILL, no chance to
// clean up) and checks after each kill that the store is still consistent and the tags
// that existed are intact, then that a re-run completes and prune removes the leftovers.
func TestCampaignImport(t *testing.T) {
	c := newCampaign(t, "import")
	dir := t.TempDir()
	st := filepath.Join(dir, "store")
	tarPath := filepath.Join(dir, "big.tar")
	writeRandomTar(t, tarPath, 4, 1<<20) // 4 MiB of incompressible files
	c.run(nil, "--store", st, "import", tarPath, "base:1")
	base := c.tagDigests(st)
	// Measure one import to spread kill points over its duration.
	start := time.Now()
	c.run(nil, "--store", st, "import", tarPath, "timing:1")
	took := time.Since(start)
	c.run(nil, "--store", st, "rmi", "timing:1")
	for i := 0; i < c.points; i++ {
		delay := time.Duration(c.rng.Int63n(int64(took)))
		point := fmt.Sprintf("point %d (%v of %v)", i, delay.Round(time.Millisecond), took.Round(time.Millisecond))
		if c.kill(nil, 0, delay, "--store", st, "import", tarPath, "victim:1") {
			took = took * 3 / 4 // runs are faster than the measured one: aim earlier
		}
		c.check(st, point)
		if got := c.tagDigests(st); got["base:1"] != base["base:1"] {
			t.Fatalf("%s (seed %d): base:1 is now %q, was %q", point, c.seed, got["base:1"], base["base:1"])
		}
	}
	c.run(nil, "--store", st, "import", tarPath, "victim:1")
	// The re-run cleaned up the killed runs' temporary files. (Verified staged blobs stay
	// for resume until a run uses them or prune removes them.)
	if ents, _ := os.ReadDir(filepath.Join(st, ".imgx", "ingest")); len(ents) != 0 {
		t.Errorf("temporary files left after the re-run: %d", len(ents))
	}
	c.run(nil, "--store", st, "prune")
	if out := c.run(nil, "--store", st, "check"); !strings.Contains(out, " 0 problems") || !strings.Contains(out, " 0 leftovers") {
		t.Fatalf("final check: %s", out)
	}
	c.report()
}

func writeRandomTar(t *testing.T, path string, files int, size int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	rng := rand.New(rand.NewSource(42))
	buf := make([]byte, size)
	for i := 0; i < files; i++ {
		rng.Read(buf)
		hdr := &tar.Header{Name: "data/file" + string(rune('a'+i)), Mode: 0o644, Size: int64(size), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := bytes.NewReader(buf).WriteTo(tw); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestTwoIngestsAtOnce starts an ingest, stops it (SIGSTOP) once it holds the store's
// ingest lock, and runs a second one: the second must hit the lock (ingest.ErrLocked),
// say so, exit 0 and touch nothing; the first, continued, must then load every bundle.
func TestTwoIngestsAtOnce(t *testing.T) {
	c := newCampaign(t, "two ingests")
	snd := newCampaignSender(t, c, 2, 2, 256<<10, true)
	dir := t.TempDir()
	in, done, st := filepath.Join(dir, "incoming"), filepath.Join(dir, "done"), filepath.Join(dir, "store")
	os.Mkdir(in, 0o755)
	os.Mkdir(done, 0o755)
	for i, im := range snd.images {
		c.run(nil, "--store", snd.store, "save", "--sign-key", snd.key, im, "-o", filepath.Join(in, fmt.Sprintf("b%d.imgx", i)))
	}
	ingest := []string{"--store", st, "ingest", "--key", snd.pub, in, "--done", done}
	c.run(nil, "--store", st, "ingest", "--key", snd.pub, done) // creates the store (done is empty), and its lock file
	lockFile := filepath.Join(st, ".imgx", "ingest.lock")

	first := exec.Command(c.bin, ingest...)
	first.Env = c.env
	var firstOut strings.Builder
	first.Stdout, first.Stderr = &firstOut, &firstOut
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- first.Wait() }()
	defer first.Process.Kill()
	// Step the first ingest in slices of a few milliseconds (SIGCONT, sleep, SIGSTOP) until
	// it holds the lock (an flock: /proc/locks lists its pid), however loaded the machine.
	stop := func() {
		if err := first.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		waitStopped(t, first.Process.Pid)
	}
	stop()
	for i := 0; !holdsFlock(t, first.Process.Pid, lockFile); i++ {
		if i == 5000 {
			t.Fatalf("the first ingest did not take %s", lockFile)
		}
		first.Process.Signal(syscall.SIGCONT)
		time.Sleep(2 * time.Millisecond)
		select {
		case err := <-exited:
			t.Fatalf("the first ingest ended (%v) before it was seen holding the lock:\n%s", err, firstOut.String())
		default:
		}
		stop()
	}
	before := testutil.TreeHash(t, dir)
	second := exec.Command(c.bin, ingest...)
	second.Env = c.env
	out, err := second.CombinedOutput()
	if err != nil || !strings.Contains(string(out), errLockedMsg) {
		t.Fatalf("the second ingest, while the first held the lock: %v, want exit 0 and %q:\n%s", err, errLockedMsg, out)
	}
	if got := testutil.TreeHash(t, dir); got != before {
		t.Fatalf("the second ingest changed files although it did not hold the lock")
	}
	if err := first.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err != nil || !strings.Contains(firstOut.String(), "2 loaded") {
		t.Fatalf("the first ingest, continued: %v\n%s", err, firstOut.String())
	}
	if got, want := c.tagDigests(st), c.tagDigests(snd.store); !sameMap(got, want) {
		t.Fatalf("the store has %v, want %v", got, want)
	}
}

// errLockedMsg is what the CLI prints for ingest.ErrLocked.
var errLockedMsg = ingest.ErrLocked.Error() + "; nothing to do"

// holdsFlock reports whether process pid holds an flock on file, from /proc/locks
// ("1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF": pid, then device:inode).
func holdsFlock(t *testing.T, pid int, file string) bool {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(file, &st); err != nil {
		return false
	}
	locks, err := os.ReadFile("/proc/locks")
	if err != nil {
		t.Fatalf("this test reads /proc/locks (Linux): %v", err)
	}
	for _, l := range strings.Split(string(locks), "\n") {
		f := strings.Fields(l)
		if len(f) < 6 || f[1] != "FLOCK" || f[4] != strconv.Itoa(pid) {
			continue
		}
		if parts := strings.Split(f[5], ":"); len(parts) == 3 && parts[2] == strconv.FormatUint(st.Ino, 10) {
			return true
		}
	}
	return false
}

// waitStopped waits until process pid is stopped (state T in /proc/PID/stat).
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Microsecond) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return // it ended (the caller sees that), or no /proc: holdsFlock says so
		}
		// pid (comm) STATE …: the state follows the last ')'.
		if i := strings.LastIndexByte(string(b), ')'); i > 0 && i+2 < len(b) && (b[i+2] == 'T' || b[i+2] == 't') {
			return
		}
	}
	t.Fatalf("process %d did not stop", pid)
}
