package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgx/imgx/internal/testutil"
)

// TestHostileKeygenTempLink: links planted at the names keygen used for its temporary
// files (NAME.key.tmp, NAME.pub.tmp) are never written through: the private key does not
// land in a file someone else chose, and that file is not overwritten.
func TestHostileKeygenTempLink(t *testing.T) {
	t.Setenv("IMGX_PASSWORD", "pw")
	out := t.TempDir()
	victim := filepath.Join(out, "authorized")
	os.WriteFile(victim, []byte("keep me\n"), 0o644)
	dir := t.TempDir()
	prefix := filepath.Join(dir, "release")
	os.Symlink(victim, prefix+".key.tmp")
	os.Symlink(filepath.Join(out, "stolen.key"), prefix+".pub.tmp")
	before := testutil.TreeHash(t, out)
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"keygen", "--output-prefix", prefix}, &Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr}); code != 0 {
		t.Fatalf("keygen: exit %d: %s", code, stderr.String())
	}
	if after := testutil.TreeHash(t, out); after != before {
		t.Fatalf("keygen wrote through a planted link:\n%s", after)
	}
	for _, p := range []string{prefix + ".key", prefix + ".pub"} {
		fi, err := os.Lstat(p)
		if err != nil || !fi.Mode().IsRegular() {
			t.Fatalf("%s: %v %v, want a regular file", p, fi, err)
		}
	}
	if fi, _ := os.Stat(prefix + ".key"); fi.Mode().Perm() != 0o600 {
		t.Errorf("private key mode %v, want 0600", fi.Mode().Perm())
	}
}
