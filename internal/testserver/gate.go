package testserver

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// RealEnv is the switch that enables the tests against real peers. `make test` sets it
// after installing every peer (scripts/install-deps.sh); with it set, a peer that is
// missing fails the test instead of skipping it, so a green run means every peer ran.
const RealEnv = "IMGX_REAL_TESTS"

// InstallAll is the command that installs every peer the real tests need.
const InstallAll = "./scripts/install-deps.sh"

// Real reports whether the real-peer tests are enabled (IMGX_REAL_TESTS=1, not -short).
func Real() bool {
	return os.Getenv(RealEnv) == "1" && !short()
}

// short is testing.Short, replaceable by the gate's own test.
var short = testing.Short

// RealTests skips t unless the real-peer tests are enabled (IMGX_REAL_TESTS=1, and not
// -short). Tests that need an external program or a privilege also call RequireTool or
// RequireCapability, which fail under the switch when it is missing.
func RealTests(t testing.TB) {
	t.Helper()
	if short() {
		t.Skip("real-peer test: skipped under -short")
	}
	if os.Getenv(RealEnv) != "1" {
		t.Skipf("real-peer test: set %s=1 to run (%s installs the peers; `make test` does both)", RealEnv, InstallAll)
	}
}

// RequireTool is the gate of a real-peer test that runs an external program: it skips t
// unless IMGX_REAL_TESTS=1 and, with the switch on, fails t when tool is not installed,
// saying how to install it (install: e.g. "apt-get install skopeo"). tool is looked up on
// PATH, then at the paths in also (absolute, or relative to the test's directory), and
// the path found is returned.
func RequireTool(t testing.TB, tool, install string, also ...string) string {
	t.Helper()
	RealTests(t)
	p, err := findTool(tool, also)
	if err != nil {
		missing(t, "%s is not installed (%v): %s, or %s", tool, err, install, InstallAll)
	}
	return p
}

// HostTool is RequireTool for a common program a test uses when it is there (bzip2):
// the test runs whenever the program is installed; when it is not, t skips, or fails
// under IMGX_REAL_TESTS=1, saying how to install it.
func HostTool(t testing.TB, tool, install string) string {
	t.Helper()
	p, err := findTool(tool, nil)
	if err != nil {
		if os.Getenv(RealEnv) != "1" {
			t.Skipf("%s is not installed (%s); with %s=1 this fails", tool, install, RealEnv)
		}
		missing(t, "%s is not installed (%v): %s, or %s", tool, err, install, InstallAll)
	}
	return p
}

// HostCapability is HostTool for something other than a program (pseudo-terminals,
// /proc): the test runs wherever err is nil; where it is not, t skips, or fails under
// IMGX_REAL_TESTS=1, naming what is missing and how to get it.
func HostCapability(t testing.TB, what string, err error, how string) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv(RealEnv) != "1" {
		t.Skipf("%s is not available (%v): %s; with %s=1 this fails", what, err, how, RealEnv)
	}
	missing(t, "%s is not available (%v): %s", what, err, how)
}

// RequireCapability is the gate of a real-peer test that needs something other than a
// program: root, a tmpfs mount, a system account. It skips t unless IMGX_REAL_TESTS=1;
// with the switch on, a non-nil err (why the capability is missing) fails t, naming what
// is missing and how to get it.
func RequireCapability(t testing.TB, what string, err error, how string) {
	t.Helper()
	RealTests(t)
	if err != nil {
		missing(t, "%s is not available (%v): %s", what, err, how)
	}
}

// Root returns nil when the test runs as root, else an error to pass to RequireCapability.
func Root() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("running as uid %d, not root", os.Geteuid())
	}
	return nil
}

// missing ends a gated test whose peer is missing: a failure under the switch (the run
// promised every peer), a skip otherwise.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv(RealEnv) == "1" {
		t.Fatalf("%s=1 but a peer is missing: %s", RealEnv, msg)
	}
	t.Skip(msg)
}

func findTool(tool string, also []string) (string, error) {
	p, err := exec.LookPath(tool)
	if err == nil {
		return p, nil
	}
	for _, a := range also {
		if !filepath.IsAbs(a) {
			if abs, aerr := filepath.Abs(a); aerr == nil {
				a = abs
			}
		}
		if fi, serr := os.Stat(a); serr == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return a, nil
		}
	}
	if len(also) > 0 {
		return "", fmt.Errorf("not on PATH nor at %v", also)
	}
	return "", errors.New("not on PATH")
}

// RepoRoot is the repository's top directory (where go.mod is), found from this file;
// tests use it to find tools the scripts build there (bin/tools/cosign).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}
