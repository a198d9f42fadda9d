package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/imgx/imgx/internal/testserver"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"imgx":         func() { os.Exit(Main()) },
		"imgx-peakrss": peakRSSMain,
	})
}

func params(dir string, extraEnv map[string]string) testscript.Params {
	p := testscript.Params{
		Dir: dir,
		Setup: func(env *testscript.Env) error {
			env.Setenv("IMGX_STORE", env.WorkDir+"/store")
			env.Setenv("HOME", env.WorkDir+"/home")
			env.Setenv("XDG_CONFIG_HOME", env.WorkDir+"/home/.config")
			env.Setenv("IMGX_PASSWORD", "test-password")
			for k, v := range extraEnv {
				env.Setenv(k, v)
			}
			return nil
		},
		// [real] guards steps that need real peers (skopeo, umoci, sshd, …), which CI
		// installs and enables with IMGX_REAL_TESTS=1.
		Condition: func(cond string) (bool, error) {
			if cond == "real" {
				return testserver.Real(), nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// require TOOL HOW: after a `[!real] skip`, the script's peer must be installed;
			// IMGX_REAL_TESTS=1 promises every peer, so a missing one fails the script.
			"require": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) != 2 {
					ts.Fatalf("usage: require TOOL 'how to install it'")
				}
				if _, err := exec.LookPath(args[0]); err != nil {
					ts.Fatalf("%s is not installed: %s, or %s", args[0], args[1], testserver.InstallAll)
				}
			},
		},
	}
	for name, cmd := range jsonScriptCmds {
		p.Cmds[name] = cmd
	}
	for name, cmd := range ttyCmds {
		p.Cmds[name] = cmd
	}
	return p
}

// TestScripts runs the CLI scripts in testdata/script: each is a small shell-like session
// with expected stdout/stderr, so the user-visible behaviour is pinned down in one place.
func TestScripts(t *testing.T) {
	testscript.Run(t, params("testdata/script", nil))
}

// TestServerScripts runs testdata/servers against a real OpenSSH sshd and a real vsftpd
// (plain and explicit TLS) on 127.0.0.1, started here and stopped by PID at the end. The
// scripts see where they are through environment variables.
func TestServerScripts(t *testing.T) {
	testserver.RealTests(t)
	sshd := testserver.StartSSHD(t)
	ftpd := testserver.StartVsftpd(t, false)
	ftps := testserver.StartVsftpd(t, true)
	host, port, _ := strings.Cut(sshd.Addr, ":")
	env := map[string]string{
		"SSHD_URL":            fmt.Sprintf("sftp://%s@%s:%s", sshd.User, host, port),
		"SSH_KEY":             sshd.Keys.ClientKey,
		"SSH_KNOWN_HOSTS":     sshd.Keys.KnownHosts,
		"FTP_URL":             "ftp://" + ftpd.Addr,
		"FTP_ROOT":            ftpd.Root,
		"FTPS_URL":            "ftps://" + ftps.Addr,
		"FTPS_ROOT":           ftps.Root,
		"FTP_CA":              ftps.CAFile,
		"IMGX_FTP_USER":       ftpd.User,
		"IMGX_FTP_PASSWORD":   ftpd.Password,
		"IMGX_SSH_PASSPHRASE": "",
	}
	testscript.Run(t, params("testdata/servers", env))
}
