package main

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestGuideLsLongColumns: the ls --long output the user guide shows has the columns ls
// prints, in its order.
func TestGuideLsLongColumns(t *testing.T) {
	out, err := exec.Command(imgxBin(t), "ls", "--long", t.TempDir()).CombinedOutput()
	if err != nil {
		t.Fatalf("imgx ls --long: %v\n%s", err, out)
	}
	cols := regexp.MustCompile(`\s{2,}`)
	got := cols.Split(strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0]), -1)
	guide, err := os.ReadFile("../../docs/user-guide.md")
	if err != nil {
		t.Fatal(err)
	}
	var shown []string
	for _, l := range strings.Split(string(guide), "\n") {
		if strings.HasPrefix(l, "    NAME ") && strings.Contains(l, "MANIFEST") {
			shown = cols.Split(strings.TrimSpace(l), -1)
		}
	}
	if !slices.Equal(shown, got) {
		t.Errorf("docs/user-guide.md shows ls --long columns %q; ls prints %q", shown, got)
	}
}
