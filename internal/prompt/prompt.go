// Package prompt is imgx's one terminal prompt: it asks the operator for a secret (key
// passwords, SSH passphrases and passwords, registry logins) on the controlling terminal.
// Only the command line uses it; libraries take callbacks instead ([verify.PasswordFunc],
// sftp.Options.Passphrase and Password), so that a program embedding them decides where
// secrets come from. Secrets are never taken from command-line arguments, which other
// users can read in the process list.
package prompt

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// ErrNoTerminal: there is no terminal to ask on (cron, pipes).
var ErrNoTerminal = errors.New("no terminal")

// ttyPath and stdin are variables so tests can point them at a pseudo-terminal or at a
// file that is not one.
var (
	ttyPath = "/dev/tty"
	stdin   = os.Stdin
)

// Secret asks on the controlling terminal without echo, twice when confirm is set (the two
// answers must match). Without a controlling terminal it asks on standard input when that
// is a terminal; otherwise it returns [ErrNoTerminal]. An empty answer is an empty,
// non-nil slice.
func Secret(prompt string, confirm bool) ([]byte, error) {
	var pw []byte
	err := withTerminal(func(fd int, w io.Writer, _ io.Reader) error {
		var err error
		pw, err = readSecret(fd, w, prompt, confirm)
		return err
	})
	return pw, err
}

// Line asks on the controlling terminal with echo, for what is not secret (a user name),
// and returns the line without its end. It fails like [Secret] without a terminal.
func Line(prompt string) (string, error) {
	var line string
	err := withTerminal(func(_ int, w io.Writer, r io.Reader) error {
		fmt.Fprint(w, prompt)
		l, err := bufio.NewReader(r).ReadString('\n')
		line = strings.TrimRight(l, "\r\n")
		return err
	})
	return line, err
}

// withTerminal runs ask on /dev/tty, else on standard input and error when it is a
// terminal, else returns ErrNoTerminal.
func withTerminal(ask func(fd int, w io.Writer, r io.Reader) error) error {
	tty, err := os.OpenFile(ttyPath, os.O_RDWR, 0)
	if err != nil || !term.IsTerminal(int(tty.Fd())) {
		if tty != nil {
			tty.Close()
		}
		if term.IsTerminal(int(stdin.Fd())) {
			return ask(int(stdin.Fd()), os.Stderr, stdin)
		}
		return ErrNoTerminal
	}
	defer tty.Close()
	return ask(int(tty.Fd()), tty, tty)
}

func readSecret(fd int, w io.Writer, prompt string, confirm bool) ([]byte, error) {
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
