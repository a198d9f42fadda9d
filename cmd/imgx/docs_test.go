package main

import (
	"bytes"
	"context"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestCLIDocsCurrent fails when docs/cli/ (the Markdown reference generated from the
// commands) is not what the commands generate now: CI runs it, so a changed flag or help
// text must come with `make docs`.
func TestCLIDocsCurrent(t *testing.T) {
	const committed = "../../docs/cli"
	fresh := t.TempDir()
	if err := genDocs(newRoot(context.Background(), &Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: io.Discard}), "markdown", fresh); err != nil {
		t.Fatal(err)
	}
	want := mdFiles(t, fresh)
	got := mdFiles(t, committed)
	if !slices.Equal(slices.Sorted(maps.Keys(want)), slices.Sorted(maps.Keys(got))) {
		t.Fatalf("docs/cli has %v, the commands generate %v: run 'make docs'", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
	if len(want) < 20 {
		t.Fatalf("only %d pages generated", len(want))
	}
	for name, w := range want {
		if !bytes.Equal(got[name], w) {
			t.Errorf("docs/cli/%s is out of date: run 'make docs'", name)
		}
	}
	// The pages carry what the help says.
	if save := string(want["imgx_save.md"]); !strings.Contains(save, "imgx save app:1.2 web:3 --sign-key release.key") || !strings.Contains(save, "--level string") {
		t.Errorf("imgx_save.md lacks the examples or flags:\n%s", save)
	}
	if _, ok := want["imgx___gendocs.md"]; ok {
		t.Error("the hidden __gendocs command is documented")
	}
}

func mdFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = b
	}
	return out
}
