package main

import (
	"errors"
	"os"
	"testing"

	"golang.org/x/term"

	"github.com/imgx/imgx/verify"
)

// TestKeyPassword: $IMGX_PASSWORD is used when set, even empty; COSIGN_PASSWORD never;
// without it and without a terminal the answer is verify.ErrNoPassword.
func TestKeyPassword(t *testing.T) {
	t.Setenv(keyPasswordEnv, "from env")
	if pw, err := keyPassword("", false)(); err != nil || string(pw) != "from env" {
		t.Fatalf("= %q, %v", pw, err)
	}
	t.Setenv(keyPasswordEnv, "")
	if pw, err := keyPassword("", true)(); err != nil || pw == nil || len(pw) != 0 {
		t.Fatalf("empty %s = %#v, %v; want empty non-nil", keyPasswordEnv, pw, err)
	}
	os.Unsetenv(keyPasswordEnv)
	t.Setenv("COSIGN_PASSWORD", "cosign's")
	if f, err := os.Open("/dev/tty"); err == nil {
		f.Close()
		t.Skip("a controlling terminal: the prompt would ask there")
	}
	if term.IsTerminal(int(os.Stdin.Fd())) {
		t.Skip("stdin is a terminal: the prompt would ask there")
	}
	if _, err := keyPassword("", false)(); !errors.Is(err, verify.ErrNoPassword) {
		t.Fatalf("no env, no tty: %v, want verify.ErrNoPassword", err)
	}
	if verify.ErrNoPassword.Error() != "no password: set IMGX_PASSWORD or run on a terminal" {
		t.Fatalf("ErrNoPassword = %q", verify.ErrNoPassword)
	}
}
