package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"golang.org/x/term"
)

// sshPassphrase prompts on the terminal for an encrypted key's passphrase when
// IMGX_SSH_PASSPHRASE is not set.
func sshPassphrase(keyFile string) ([]byte, error) {
	pw, err := ttyPrompt(fmt.Sprintf("Enter passphrase for %s: ", keyFile), false)
	if err != nil {
		return nil, fmt.Errorf("key %s is encrypted: set IMGX_SSH_PASSPHRASE or run on a terminal", keyFile)
	}
	return pw, nil
}

// sshPassword prompts on the terminal for a password login when the server wants one and
// IMGX_SSH_PASSWORD is not set.
func sshPassword(user, addr string) ([]byte, error) {
	pw, err := ttyPrompt(fmt.Sprintf("%s@%s's password: ", user, addr), false)
	if err != nil {
		return nil, fmt.Errorf("%s@%s wants a password: set IMGX_SSH_PASSWORD or run on a terminal", user, addr)
	}
	return pw, nil
}

// ttyPrompt asks on the controlling terminal, without echo unless echo is set. It fails
// when there is no terminal (cron, pipes), so secrets never come from argv or a guess.
func ttyPrompt(prompt string, echo bool) ([]byte, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer tty.Close()
	fmt.Fprint(tty, prompt)
	if echo {
		line, err := bufio.NewReader(tty).ReadString('\n')
		return []byte(strings.TrimRight(line, "\r\n")), err
	}
	pw, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(tty)
	return pw, err
}
