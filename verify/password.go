package verify

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
)

// DefaultPasswordEnv is the variable PasswordFromEnvOrTerminal reads when
// given no name. imgx does not read COSIGN_PASSWORD: a password meant for
// another tool should not unlock imgx keys by accident.
const DefaultPasswordEnv = "IMGX_PASSWORD"

// PasswordFunc returns the password for a private key. A nil result is
// treated as the empty password.
type PasswordFunc func() ([]byte, error)

// StaticPassword returns pw every time.
func StaticPassword(pw []byte) PasswordFunc {
	return func() ([]byte, error) { return pw, nil }
}

// ttyPath is a variable so tests can point it at a pseudo-terminal.
var ttyPath = "/dev/tty"

// PasswordFromEnvOrTerminal reads the password from the environment variable
// envVar (DefaultPasswordEnv if empty) when it is set, even to the empty
// string; otherwise it prompts on the controlling terminal without echo,
// twice when confirm is set. Without either it returns ErrNoPassword.
// Passwords are never taken from command-line arguments, which other users
// can read in the process list.
//
// (cryptoutils.GetPasswordFromStdIn would read COSIGN_PASSWORD and then
// stdin; imgx does not use it, stdin carries bundles.)
func PasswordFromEnvOrTerminal(envVar, prompt string, confirm bool) PasswordFunc {
	if envVar == "" {
		envVar = DefaultPasswordEnv
	}
	if prompt == "" {
		prompt = "Enter password for private key: "
	}
	return func() ([]byte, error) {
		if pw, ok := os.LookupEnv(envVar); ok {
			return []byte(pw), nil
		}
		tty, err := os.OpenFile(ttyPath, os.O_RDWR, 0)
		if err != nil || !term.IsTerminal(int(tty.Fd())) {
			if tty != nil {
				tty.Close()
			}
			if term.IsTerminal(int(os.Stdin.Fd())) {
				return readPassword(int(os.Stdin.Fd()), os.Stderr, prompt, confirm)
			}
			return nil, ErrNoPassword
		}
		defer tty.Close()
		return readPassword(int(tty.Fd()), tty, prompt, confirm)
	}
}

func readPassword(fd int, w io.Writer, prompt string, confirm bool) ([]byte, error) {
	fmt.Fprint(w, prompt)
	pw, err := term.ReadPassword(fd)
	fmt.Fprintln(w)
	if err != nil {
		return nil, fmt.Errorf("read password: %w", err)
	}
	if pw == nil {
		pw = []byte{}
	}
	if !confirm {
		return pw, nil
	}
	fmt.Fprint(w, "Enter again: ")
	again, err := term.ReadPassword(fd)
	fmt.Fprintln(w)
	if err != nil {
		return nil, fmt.Errorf("read password: %w", err)
	}
	if string(pw) != string(again) {
		return nil, errors.New("passwords do not match")
	}
	return pw, nil
}
