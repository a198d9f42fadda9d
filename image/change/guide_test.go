package change

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestDocsListChanges: the user guide's --change list and import's help (as rendered
// in docs/cli) name exactly the instructions Parse accepts.
func TestDocsListChanges(t *testing.T) {
	var want []string
	for k := range allowed {
		want = append(want, k)
	}
	slices.Sort(want)
	for _, c := range []struct{ file, from, to string }{
		{"../../docs/user-guide.md", "`--change` takes", "Anything else"},
		{"../../docs/cli/imgx_import.md", "--change applies Dockerfile", "Entries with"},
	} {
		data, err := os.ReadFile(c.file)
		if err != nil {
			t.Fatal(err)
		}
		text := strings.Join(strings.Fields(string(data)), " ")
		start := strings.Index(text, c.from)
		end := strings.Index(text[max(start, 0):], c.to)
		if start < 0 || end < 0 {
			t.Errorf("%s: no list between %q and %q", c.file, c.from, c.to)
			continue
		}
		var listed []string
		for _, m := range regexp.MustCompile(`\b[A-Z]{3,}\b`).FindAllString(text[start:start+end], -1) {
			if !slices.Contains(listed, m) {
				listed = append(listed, m)
			}
		}
		slices.Sort(listed)
		if !slices.Equal(listed, want) {
			t.Errorf("%s lists --change instructions %v; image/change accepts %v", c.file, listed, want)
		}
	}
}
