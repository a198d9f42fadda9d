package main

import (
	"fmt"
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"imgx": func() { os.Exit(Main()) },
	})
}

// TestScripts runs the CLI scripts in testdata/script: each is a small shell-like session
// with expected stdout/stderr, so the user-visible behaviour is pinned down in one place.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("IMGX_STORE", env.WorkDir+"/store")
			env.Setenv("HOME", env.WorkDir+"/home")
			env.Setenv("XDG_CONFIG_HOME", env.WorkDir+"/home/.config")
			return nil
		},
		// [real] guards steps that need real peers (skopeo, umoci, sshd, …), which CI
		// installs and enables with IMGX_REAL_TESTS=1.
		Condition: func(cond string) (bool, error) {
			if cond == "real" {
				return os.Getenv("IMGX_REAL_TESTS") == "1", nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
	})
}
