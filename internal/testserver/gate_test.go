package testserver

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// fakeTB records how a gate ended a test: Skip and Fatal stop the goroutine like the
// real ones do (runtime.Goexit).
type fakeTB struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Skip(args ...any) {
	f.skipped, f.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}
func (f *fakeTB) Skipf(format string, args ...any) {
	f.skipped, f.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed, f.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// gate runs fn with a fake testing.TB and reports how it ended.
func gate(fn func(tb testing.TB)) *fakeTB {
	f := &fakeTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	return f
}

// TestGate pins the real-peer gate: without IMGX_REAL_TESTS=1 a gated test skips and says
// how to enable it; with it, a missing tool or capability fails the test and names what
// to install, and a present one lets it run.
func TestGate(t *testing.T) {
	defer func(s func() bool) { short = s }(short)
	short = func() bool { return false }
	exe := filepath.Join(t.TempDir(), "imgx-present-tool")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	absent := "imgx-no-such-tool-" + t.Name()
	tests := []struct {
		name, env string
		fn        func(tb testing.TB)
		want      string // "skip", "fail" or "run"
		msg       string // in the message
	}{
		{"tool off", "", func(tb testing.TB) { RequireTool(tb, absent, "apt-get install x") }, "skip", "set IMGX_REAL_TESTS=1"},
		{"present tool off", "", func(tb testing.TB) { RequireTool(tb, "sh", "apt-get install dash") }, "skip", "set IMGX_REAL_TESTS=1"},
		{"missing tool on", "1", func(tb testing.TB) { RequireTool(tb, absent, "apt-get install x") }, "fail", "apt-get install x"},
		{"missing tool on names install-deps", "1", func(tb testing.TB) { RequireTool(tb, absent, "apt-get install x") }, "fail", InstallAll},
		{"tool on PATH on", "1", func(tb testing.TB) { RequireTool(tb, "sh", "apt-get install dash") }, "run", ""},
		{"tool at extra path on", "1", func(tb testing.TB) { RequireTool(tb, absent, "build it", exe) }, "run", ""},
		{"tool at missing extra path on", "1", func(tb testing.TB) { RequireTool(tb, absent, "build it", exe+"-gone") }, "fail", "build it"},
		{"switch other than 1", "yes", func(tb testing.TB) { RequireTool(tb, absent, "apt-get install x") }, "skip", "set IMGX_REAL_TESTS=1"},
		{"capability off", "", func(tb testing.TB) { RequireCapability(tb, "a tmpfs mount", errors.New("EPERM"), "run as root") }, "skip", ""},
		{"missing capability on", "1", func(tb testing.TB) { RequireCapability(tb, "a tmpfs mount", errors.New("EPERM"), "run as root") }, "fail", "a tmpfs mount is not available (EPERM): run as root"},
		{"capability on", "1", func(tb testing.TB) { RequireCapability(tb, "a tmpfs mount", nil, "run as root") }, "run", ""},
		{"real tests off", "", func(tb testing.TB) { RealTests(tb) }, "skip", "set IMGX_REAL_TESTS=1"},
		{"real tests on", "1", func(tb testing.TB) { RealTests(tb) }, "run", ""},
		{"host tool missing off", "", func(tb testing.TB) { HostTool(tb, absent, "apt-get install x") }, "skip", "apt-get install x"},
		{"host tool missing on", "1", func(tb testing.TB) { HostTool(tb, absent, "apt-get install x") }, "fail", "apt-get install x"},
		{"host tool present off", "", func(tb testing.TB) { HostTool(tb, "sh", "apt-get install dash") }, "run", ""},
		{"host capability missing off", "", func(tb testing.TB) { HostCapability(tb, "ptys", errors.New("ENOENT"), "mount /dev/pts") }, "skip", "mount /dev/pts"},
		{"host capability missing on", "1", func(tb testing.TB) { HostCapability(tb, "ptys", errors.New("ENOENT"), "mount /dev/pts") }, "fail", "ptys is not available (ENOENT): mount /dev/pts"},
		{"host capability present off", "", func(tb testing.TB) { HostCapability(tb, "ptys", nil, "mount /dev/pts") }, "run", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(RealEnv, tt.env)
			f := gate(tt.fn)
			got := "run"
			if f.skipped {
				got = "skip"
			} else if f.failed {
				got = "fail"
			}
			if got != tt.want || !strings.Contains(f.msg, tt.msg) {
				t.Fatalf("gate ended %s (%q), want %s containing %q", got, f.msg, tt.want, tt.msg)
			}
		})
	}
}

// TestGateShort: under -short (make test-short) a real-peer test skips even with the
// switch on.
func TestGateShort(t *testing.T) {
	defer func(s func() bool) { short = s }(short)
	short = func() bool { return true }
	t.Setenv(RealEnv, "1")
	if f := gate(func(tb testing.TB) { RequireTool(tb, "imgx-no-such-tool", "x") }); !f.skipped || !strings.Contains(f.msg, "-short") {
		t.Fatalf("under -short the gate did not skip: failed=%v %q", f.failed, f.msg)
	}
}
