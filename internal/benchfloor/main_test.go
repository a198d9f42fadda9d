package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestFloorCopiesAndHashes runs the floor on a tiny input (a file and a directory, chunks
// smaller than the files, more workers than chunks) and checks that every byte was written
// to the copies and hashed: the copies equal the inputs and the digest is the SHA-256 of
// the chunk digests in order.
func TestFloorCopiesAndHashes(t *testing.T) {
	in := t.TempDir()
	a := bytes.Repeat([]byte("floor"), 1000) // 5000 bytes: chunks of 2048, 2048, 904
	b := []byte("second file")
	if err := os.WriteFile(filepath.Join(in, "a"), a, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(in, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(in, "d", "b"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	want := sha256.New()
	for _, c := range [][]byte{a[:2048], a[2048:4096], a[4096:], b} {
		s := sha256.Sum256(c)
		want.Write(s[:])
	}
	for _, workers := range []int{1, 3, 8} {
		out := t.TempDir()
		res, err := run([]string{filepath.Join(in, "a"), filepath.Join(in, "d")}, out, workers, 2048)
		if err != nil {
			t.Fatalf("workers %d: %v", workers, err)
		}
		if res.bytes != int64(len(a)+len(b)) || res.files != 2 || res.workers != workers {
			t.Errorf("workers %d: result %+v", workers, res)
		}
		if got := hex.EncodeToString(want.Sum(nil)); res.digest != got {
			t.Errorf("workers %d: digest %s, want %s", workers, res.digest, got)
		}
		for i, content := range [][]byte{a, b} {
			got, err := os.ReadFile(filepath.Join(out, []string{"0", "1"}[i]))
			if err != nil || !bytes.Equal(got, content) {
				t.Errorf("workers %d: copy %d differs from its input (err %v)", workers, i, err)
			}
		}
	}
	// Without -o only reading and hashing: same digest, nothing written.
	res, err := run([]string{in}, "", 2, 2048)
	if err != nil || res.digest != hex.EncodeToString(want.Sum(nil)) {
		t.Errorf("hash only: %+v, %v", res, err)
	}
}

// TestFloorErrors: no input files and unreadable paths are errors, not a zero floor.
func TestFloorErrors(t *testing.T) {
	if _, err := run([]string{t.TempDir()}, "", 2, 1024); err == nil {
		t.Error("empty directory: no error")
	}
	if _, err := run([]string{filepath.Join(t.TempDir(), "missing")}, "", 2, 1024); err == nil {
		t.Error("missing file: no error")
	}
}

// TestBenchScriptsParse: every bench script, and the server scripts they start, at least
// parses (bash -n), so `make test` catches a broken `make bench` without running it.
func TestBenchScriptsParse(t *testing.T) {
	scripts, err := filepath.Glob("../../scripts/bench*.sh")
	if err != nil {
		t.Fatal(err)
	}
	if len(scripts) < 3 {
		t.Fatalf("found only %v under scripts/", scripts)
	}
	scripts = append(scripts, "../../scripts/sshd-test.sh", "../../scripts/vsftpd-test.sh", "../../scripts/registry-test.sh")
	for _, s := range scripts {
		if out, err := exec.Command("bash", "-n", s).CombinedOutput(); err != nil {
			t.Errorf("bash -n %s: %v\n%s", s, err, out)
		}
	}
}
