package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// buildImgx compiles the command once per test binary run.
func buildImgx(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "imgx")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestKillDuringImport kills imgx import at many points (SIGKILL, no chance to clean up)
// and checks after each kill that the store is still consistent, then that a re-run
// completes and prune removes the leftovers.
func TestKillDuringImport(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: builds imgx and imports repeatedly")
	}
	bin := buildImgx(t)
	dir := t.TempDir()
	storeDir := filepath.Join(dir, "store")
	tarPath := filepath.Join(dir, "big.tar")
	writeRandomTar(t, tarPath, 8, 4<<20) // 32 MiB of incompressible files

	run := func(args ...string) (string, error) {
		cmd := exec.Command(bin, append([]string{"--store", storeDir}, args...)...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run("import", tarPath, "base:1"); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	// Measure one import to spread kill points over its duration.
	start := time.Now()
	if out, err := run("import", tarPath, "timing:1"); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	full := time.Since(start)

	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 10; i++ {
		delay := time.Duration(rng.Int63n(int64(full)))
		cmd := exec.Command(bin, "--store", storeDir, "import", tarPath, "victim:1")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		cmd.Process.Kill()
		cmd.Wait()
		if out, err := run("check"); err != nil {
			t.Fatalf("after kill at %v: check failed: %v\n%s", delay, err, out)
		}
		// Tags that existed are intact.
		if out, err := run("inspect", "base:1"); err != nil {
			t.Fatalf("after kill at %v: base:1 lost: %v\n%s", delay, err, out)
		}
	}
	if out, err := run("import", tarPath, "victim:1"); err != nil {
		t.Fatalf("re-run: %v\n%s", err, out)
	}
	// The re-run cleaned up the killed runs' temporary files. (Verified staged blobs stay
	// for resume until a run uses them or prune removes them.)
	if ents, _ := os.ReadDir(filepath.Join(storeDir, ".imgx", "ingest")); len(ents) != 0 {
		t.Errorf("temporary files left after the re-run: %d", len(ents))
	}
	if out, err := run("prune"); err != nil {
		t.Fatalf("prune: %v\n%s", err, out)
	}
	out, err := run("check")
	if err != nil || !strings.Contains(out, "0 problems") || !strings.Contains(out, "0 leftovers") {
		t.Fatalf("final check: %v\n%s", err, out)
	}
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

// TestKillDuringLoadAndIngest kills `imgx load` of a signed bundle, and `imgx ingest` of a
// directory of bundles, at many points. After every kill the store checks clean; a re-run
// loads everything; ingest loads each bundle exactly once (the store's records), and a
// second ingest started while one runs exits cleanly.
func TestKillDuringLoadAndIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: builds imgx and loads repeatedly")
	}
	bin := buildImgx(t)
	dir := t.TempDir()
	sender := filepath.Join(dir, "sender")
	run := func(store string, args ...string) (string, error) {
		cmd := exec.Command(bin, append([]string{"--store", store}, args...)...)
		cmd.Env = append(os.Environ(), "IMGX_PASSWORD=pw")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	must := func(store string, args ...string) string {
		t.Helper()
		out, err := run(store, args...)
		if err != nil {
			t.Fatalf("imgx %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	must(sender, "keygen", "--output-prefix", filepath.Join(dir, "k"))
	incoming := filepath.Join(dir, "incoming")
	os.MkdirAll(incoming, 0o755)
	os.MkdirAll(filepath.Join(dir, "done"), 0o755)
	state := filepath.Join(dir, "sent.json")
	for i := 0; i < 3; i++ {
		tarPath := filepath.Join(dir, fmt.Sprintf("layer%d.tar", i))
		writeRandomTar(t, tarPath, 2, 4<<20+i)
		must(sender, "import", "--compress", "none", tarPath, "app:stable")
		must(sender, "save", "--since-state", state, "--sign-key", filepath.Join(dir, "k.key"), "app:stable",
			"-o", filepath.Join(incoming, fmt.Sprintf("night%d.imgx", i)))
	}

	// load: kill at random points, check, then complete.
	receiver := filepath.Join(dir, "receiver")
	bundle := filepath.Join(incoming, "night0.imgx")
	start := time.Now()
	must(filepath.Join(dir, "timing"), "load", "--key", filepath.Join(dir, "k.pub"), "-i", bundle)
	full := time.Since(start)
	rng := rand.New(rand.NewSource(2))
	for i := 0; i < 8; i++ {
		killAfter(t, exec.Command(bin, "--store", receiver, "load", "--key", filepath.Join(dir, "k.pub"), "-i", bundle), time.Duration(rng.Int63n(int64(full))))
		if out, err := run(receiver, "check"); err != nil {
			t.Fatalf("check after killed load: %v\n%s", err, out)
		}
	}
	must(receiver, "load", "--key", filepath.Join(dir, "k.pub"), "-i", bundle)

	// ingest: kill repeatedly, then finish; every bundle ends in done/, loaded once.
	receiver2 := filepath.Join(dir, "receiver2")
	ingest := []string{"ingest", "--key", filepath.Join(dir, "k.pub"), incoming, "--done", filepath.Join(dir, "done")}
	start = time.Now()
	must(filepath.Join(dir, "timing2"), "ingest", "--key", filepath.Join(dir, "k.pub"), incoming) // leaves the bundles in place
	full = time.Since(start)
	for i := 0; i < 6; i++ {
		killAfter(t, exec.Command(bin, append([]string{"--store", receiver2}, ingest...)...), time.Duration(rng.Int63n(int64(full))))
		if out, err := run(receiver2, "check"); err != nil {
			t.Fatalf("check after killed ingest: %v\n%s", err, out)
		}
	}
	// Two ingests at once: one works, the other says so and exits 0.
	a := exec.Command(bin, append([]string{"--store", receiver2}, ingest...)...)
	var aOut strings.Builder
	a.Stdout, a.Stderr = &aOut, &aOut
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	bOut, bErr := run(receiver2, ingest...)
	if err := a.Wait(); err != nil || bErr != nil {
		t.Fatalf("concurrent ingests: %v %v\n%s\n%s", err, bErr, aOut.String(), bOut)
	}
	out := must(receiver2, ingest...)
	if !strings.Contains(out, "0 loaded") || !strings.Contains(out, "0 waiting, 0 failed") {
		t.Fatalf("final ingest should find nothing left:\n%s", out)
	}
	for i := 0; i < 3; i++ {
		if _, err := os.Stat(filepath.Join(dir, "done", fmt.Sprintf("night%d.imgx", i))); err != nil {
			t.Errorf("night%d.imgx not in done/: %v", i, err)
		}
	}
	want := must(sender, "inspect", "--format", "{{ .Digest }}", "app:stable")
	if got := must(receiver2, "inspect", "--format", "{{ .Digest }}", "app:stable"); got != want {
		t.Errorf("receiver has app:stable %s, sender %s", got, want)
	}
	// Each bundle is recorded once. (A kill during a record's atomic write may leave a
	// hidden temporary file, which prune removes.)
	recs, _ := os.ReadDir(filepath.Join(receiver2, ".imgx", "records", "bundles"))
	var names []string
	for _, r := range recs {
		if !strings.HasPrefix(r.Name(), ".") {
			names = append(names, r.Name())
		}
	}
	if len(names) != 3 {
		t.Errorf("%d bundles recorded as loaded, want 3: %v", len(names), names)
	}
	must(receiver2, "prune")
	if recs, _ := os.ReadDir(filepath.Join(receiver2, ".imgx", "records", "bundles")); len(recs) != 3 {
		t.Errorf("after prune, records dir holds %d files, want 3", len(recs))
	}
	if out := must(receiver2, "check"); !strings.Contains(out, " 0 problems") {
		t.Errorf("check: %s", out)
	}
}

// killAfter starts cmd, SIGKILLs it after d and returns what it printed.
func killAfter(t *testing.T, cmd *exec.Cmd, d time.Duration) string {
	t.Helper()
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = append(os.Environ(), "IMGX_PASSWORD=pw")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(d)
	cmd.Process.Kill()
	cmd.Wait()
	return out.String()
}
