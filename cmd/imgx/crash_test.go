package main

import (
	"archive/tar"
	"bytes"
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
