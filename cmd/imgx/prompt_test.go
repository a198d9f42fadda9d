package main

import (
	"errors"
	"os"
	"testing"

	"github.com/imgx/imgx/internal/prompt"
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
	old := secretPrompt
	t.Cleanup(func() { secretPrompt = old })
	secretPrompt = func(msg string, confirm bool) ([]byte, error) {
		if msg != "Enter password for k.key: " || !confirm {
			t.Errorf("asked %q (confirm %v)", msg, confirm)
		}
		return []byte("typed"), nil
	}
	if pw, err := keyPassword("Enter password for k.key: ", true)(); err != nil || string(pw) != "typed" {
		t.Fatalf("prompted: %q, %v", pw, err)
	}
	secretPrompt = func(string, bool) ([]byte, error) { return nil, prompt.ErrNoTerminal }
	if _, err := keyPassword("", false)(); !errors.Is(err, verify.ErrNoPassword) {
		t.Fatalf("no env, no tty: %v, want verify.ErrNoPassword", err)
	}
	if verify.ErrNoPassword.Error() != "no password: set IMGX_PASSWORD or run on a terminal" {
		t.Fatalf("ErrNoPassword = %q", verify.ErrNoPassword)
	}
}
