// Command skipcheck reads `go test -json` on standard input, prints what plain `go test`
// would (an ok line per package, the output of failed tests, build errors), then a
// closing line "skipcheck: N passed, N failed, N skipped", and, with -fail-on-skip, fails if any test skipped: under IMGX_REAL_TESTS=1 every peer
// is installed, so a skip means a test did not run. `make test` pipes the suite into it.
//
//	go test -json ./... 2>&1 | go run ./internal/testutil/skipcheck -fail-on-skip
//
// It exits 1 if a package failed or, with -fail-on-skip, a test skipped.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

func main() {
	failOnSkip := flag.Bool("fail-on-skip", false, "fail when a test skipped")
	flag.Parse()
	os.Exit(run(os.Stdin, os.Stdout, *failOnSkip))
}

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action     string
	Package    string
	ImportPath string // build-output events
	Test       string
	Output     string
}

// test is what one test printed, for rendering it the way plain go test does.
type test struct {
	name     string
	logs     []string // its own lines, without the === and --- lines
	result   string   // its "--- FAIL: …" line
	failed   bool
	children []*test
}

type pkg struct {
	tests map[string]*test
	top   []*test  // top-level tests in start order
	lines []string // package-level output
}

func (p *pkg) test(name string) *test {
	if t, ok := p.tests[name]; ok {
		return t
	}
	t := &test{name: name}
	p.tests[name] = t
	if i := strings.LastIndex(name, "/"); i > 0 {
		if parent, ok := p.tests[name[:i]]; ok {
			parent.children = append(parent.children, t)
			return t
		}
	}
	p.top = append(p.top, t)
	return t
}

type skip struct{ name, why string }

func run(in io.Reader, out io.Writer, failOnSkip bool) int {
	pkgs := map[string]*pkg{}
	var skips []skip
	ran, failed, nfail := 0, false, 0
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			fmt.Fprintf(out, "%s\n", line) // not from test2json: go's own messages
			continue
		}
		switch e.Action {
		case "build-output":
			fmt.Fprint(out, e.Output)
			continue
		case "build-fail":
			failed = true
			continue
		}
		p := pkgs[e.Package]
		if p == nil {
			p = &pkg{tests: map[string]*test{}}
			pkgs[e.Package] = p
		}
		if e.Test == "" {
			switch e.Action {
			case "output":
				p.lines = append(p.lines, e.Output)
			case "pass", "skip":
				for _, l := range p.lines {
					if strings.HasPrefix(l, "ok ") || strings.HasPrefix(l, "?") {
						fmt.Fprint(out, l)
					}
				}
				delete(pkgs, e.Package)
			case "fail":
				failed = true
				for _, t := range p.top {
					render(out, t, 0)
				}
				for _, l := range p.lines {
					if !strings.HasPrefix(l, "=== ") {
						fmt.Fprint(out, l)
					}
				}
				delete(pkgs, e.Package)
			}
			continue
		}
		t := p.test(e.Test)
		switch e.Action {
		case "output":
			trimmed := strings.TrimLeft(e.Output, " ")
			switch {
			case strings.HasPrefix(trimmed, "=== "):
			case strings.HasPrefix(trimmed, "--- "):
				t.result = trimmed
			default:
				t.logs = append(t.logs, e.Output)
			}
		case "pass":
			ran++
		case "fail":
			ran++
			nfail++
			t.failed = true
		case "skip":
			why := strings.TrimSpace(strings.Join(t.logs, ""))
			skips = append(skips, skip{e.Package + " " + e.Test, why})
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(out, "skipcheck: reading go test -json: %v\n", err)
		return 1
	}
	// Packages that never ended: the test binary was killed (timeout) or go test stopped.
	for name, p := range pkgs {
		if len(p.tests) > 0 || len(p.lines) > 0 {
			failed = true
			for _, t := range p.top {
				render(out, t, 0)
			}
			for _, l := range p.lines {
				fmt.Fprint(out, l)
			}
			fmt.Fprintf(out, "FAIL\t%s\t(no result)\n", name)
		}
	}
	// The plain closing line CI and people read: counts of tests (subtests included).
	defer fmt.Fprintf(out, "skipcheck: %d passed, %d failed, %d skipped\n", ran-nfail, nfail, len(skips))
	if failOnSkip {
		if len(skips) > 0 {
			for _, s := range skips {
				fmt.Fprintf(out, "--- SKIP: %s\n", s.name)
				for _, l := range strings.Split(s.why, "\n") {
					fmt.Fprintf(out, "    %s\n", strings.TrimSpace(l))
				}
			}
			fmt.Fprintf(out, "FAIL: %d test(s) skipped under IMGX_REAL_TESTS=1, where every peer must run (./scripts/install-deps.sh installs them)\n", len(skips))
			return 1
		}
	}
	if failed {
		return 1
	}
	return 0
}

// render prints a failed test and its failed subtests as plain go test does: the
// result line, then its log, each level indented by four spaces.
func render(out io.Writer, t *test, depth int) {
	if !t.failed {
		return
	}
	ind := strings.Repeat("    ", depth)
	if t.result != "" {
		fmt.Fprint(out, ind+t.result)
	}
	for _, l := range t.logs {
		fmt.Fprint(out, ind+l)
	}
	for _, c := range t.children {
		render(out, c, depth+1)
	}
}
