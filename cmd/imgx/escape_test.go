package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHostileNamesEscaped: file names on a carrier are the sender's choice. Escape
// sequences and newlines in them must reach neither the terminal nor the log raw, in any
// command that shows them: ls, ls --long, ingest, load and verify (their errors included).
func TestHostileNamesEscaped(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("IMGX_TRUST_DIR", "")
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	os.Mkdir(in, 0o755)
	names := []string{"evil\x1b[2J\x1b[1;1HOK.imgx", "two\nImage:      victim:prod.imgx", "bidi\u202egnp.imgx"}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(in, n), []byte("not a bundle, but named like one\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	store := filepath.Join(dir, "store")
	cmds := [][]string{
		{"ls", in},
		{"ls", "--long", in},
		{"ingest", in},
		{"load", "-i", filepath.Join(in, names[0])},
		{"load", "-i", filepath.Join(in, names[1])},
		{"verify", "--digest-only", filepath.Join(in, names[0])},
		{"verify", "--digest-only", filepath.Join(in, names[2])},
	}
	for _, args := range cmds {
		var out, errb bytes.Buffer
		run(context.Background(), append([]string{"--store", store}, args...), &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb})
		all := out.String() + errb.String()
		if strings.ContainsAny(all, "\x1b\u202e") {
			t.Errorf("imgx %s printed a raw control sequence:\n%q", strings.Join(args, " "), all)
		}
		for _, line := range strings.Split(all, "\n") {
			if strings.HasPrefix(line, "Image:      victim:prod") {
				t.Errorf("imgx %s: a file name forged a line: %q", strings.Join(args, " "), all)
			}
		}
		if !strings.Contains(all, `\x1b`) && !strings.Contains(all, `\n`) && !strings.Contains(all, `\u202e`) {
			t.Errorf("imgx %s shows no escaped name:\n%s", strings.Join(args, " "), all)
		}
	}
}
