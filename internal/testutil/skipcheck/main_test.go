package main

import (
	"os"
	"strings"
	"testing"
)

// TestRun feeds recorded `go test -json` streams (testdata, from a package with a passing,
// a skipping and a failing test) and checks the exit code and what is printed.
func TestRun(t *testing.T) {
	tests := []struct {
		file       string
		failOnSkip bool
		code       int
		want       []string
		not        []string
	}{
		{"pass.json", true, 0, []string{"ok  \texample.com/x", "skipcheck: 4 passed, 0 failed, 0 skipped"}, []string{"SKIP", "=== RUN", "hello"}},
		{"pass.json", false, 0, []string{"ok  \texample.com/x", "skipcheck: 4 passed, 0 failed, 0 skipped"}, nil},
		{"skip.json", false, 0, []string{"ok  \texample.com/x"}, []string{"SKIP"}},
		{"skip.json", true, 1, []string{"ok  \texample.com/x", "--- SKIP: example.com/x TestB/s\n    x_test.go:4: no peer", "FAIL: 1 test(s) skipped"}, nil},
		{"fail_skip.json", false, 1, []string{"--- FAIL: TestC (0.00s)\n    --- FAIL: TestC/s (0.00s)\n        x_test.go:5: before\n        x_test.go:5: boom\n", "FAIL\texample.com/x"}, []string{"hello", "SKIP"}},
		{"fail_skip.json", true, 1, []string{"FAIL\texample.com/x", "--- SKIP: example.com/x TestB/s"}, nil},
	}
	for _, tt := range tests {
		f, err := os.Open("testdata/" + tt.file)
		if err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		code := run(f, &out, tt.failOnSkip)
		f.Close()
		if code != tt.code {
			t.Errorf("%s (fail-on-skip %v): exit %d, want %d\n%s", tt.file, tt.failOnSkip, code, tt.code, out.String())
		}
		for _, w := range tt.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%s (fail-on-skip %v): output lacks %q:\n%s", tt.file, tt.failOnSkip, w, out.String())
			}
		}
		for _, n := range tt.not {
			if strings.Contains(out.String(), n) {
				t.Errorf("%s (fail-on-skip %v): output has %q:\n%s", tt.file, tt.failOnSkip, n, out.String())
			}
		}
	}
}

// TestUnfinishedPackageFails: a stream that stops inside a package (the test binary was
// killed by -timeout) is a failure, not silence.
func TestUnfinishedPackageFails(t *testing.T) {
	in := `{"Action":"start","Package":"p"}
{"Action":"run","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestA","Output":"=== RUN   TestA\n"}
`
	var out strings.Builder
	if code := run(strings.NewReader(in), &out, true); code != 1 || !strings.Contains(out.String(), "FAIL\tp") {
		t.Fatalf("exit %d:\n%s", code, out.String())
	}
}
