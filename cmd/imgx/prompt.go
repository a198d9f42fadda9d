package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/imgx/imgx/internal/prompt"
	"github.com/imgx/imgx/transport/dial"
	"github.com/imgx/imgx/transport/ftp"
	"github.com/imgx/imgx/transport/sftp"
	"github.com/imgx/imgx/verify"
)

// Secrets come from the environment or from the one terminal prompt (internal/prompt),
// here in the command line; the libraries take callbacks. An environment variable that is
// set, even to the empty string, is used as it is.

// Environment variables the command line reads secrets from.
const (
	keyPasswordEnv   = "IMGX_PASSWORD" // signing keys; never COSIGN_PASSWORD, meant for another tool
	sshPassphraseEnv = sftp.PassphraseEnv
	sshPasswordEnv   = sftp.PasswordEnv
)

// secretPrompt is prompt.Secret; tests replace it.
var secretPrompt = prompt.Secret

// keyPassword returns the password of a signing key: $IMGX_PASSWORD, else a prompt (twice
// when confirm is set), else verify.ErrNoPassword.
func keyPassword(msg string, confirm bool) verify.PasswordFunc {
	return envSecret(keyPasswordEnv, msg, confirm)
}

// envSecret returns a secret from the environment variable env if it is set, else from a
// prompt (twice when confirm is set), else verify.ErrNoPassword.
func envSecret(env, msg string, confirm bool) verify.PasswordFunc {
	return func() ([]byte, error) {
		if pw, ok := os.LookupEnv(env); ok {
			return []byte(pw), nil
		}
		pw, err := secretPrompt(msg, confirm)
		if errors.Is(err, prompt.ErrNoTerminal) {
			return nil, verify.ErrNoPassword
		}
		return pw, err
	}
}

// sshPassphrase returns an encrypted key's passphrase: $IMGX_SSH_PASSPHRASE, else a
// prompt on the terminal.
func sshPassphrase(keyFile string) ([]byte, error) {
	if pw, ok := os.LookupEnv(sshPassphraseEnv); ok {
		return []byte(pw), nil
	}
	pw, err := ttyPrompt(fmt.Sprintf("Enter passphrase for %s: ", keyFile), false)
	if err != nil {
		return nil, fmt.Errorf("key %s is encrypted: set %s or run on a terminal", keyFile, sshPassphraseEnv)
	}
	return pw, nil
}

// sshPassword returns the password for a login, when the server wants one after the
// keys: $IMGX_SSH_PASSWORD, else a prompt on the terminal.
func sshPassword(user, addr string) ([]byte, error) {
	if pw, ok := os.LookupEnv(sshPasswordEnv); ok {
		return []byte(pw), nil
	}
	pw, err := ttyPrompt(fmt.Sprintf("%s@%s's password: ", user, addr), false)
	if err != nil {
		return nil, fmt.Errorf("%s@%s wants a password: set %s or run on a terminal", user, addr, sshPasswordEnv)
	}
	return pw, nil
}

// ttyPrompt asks on the terminal, without echo unless echo is set. It fails when there is
// no terminal (cron, pipes), so secrets never come from argv or a guess.
func ttyPrompt(msg string, echo bool) ([]byte, error) {
	if echo {
		l, err := prompt.Line(msg)
		return []byte(l), err
	}
	return prompt.Secret(msg, false)
}

// transportEnv fills the parts of the transport options that come from the process: the
// home directory (~/.ssh, ~/.netrc); for SFTP the local user name ($USER), the ssh-agent
// socket ($SSH_AUTH_SOCK) and the secret callbacks; for FTP the login of $IMGX_FTP_USER
// and $IMGX_FTP_PASSWORD, used when the password variable is set (even empty) and
// ~/.netrc has none.
func transportEnv(o *dial.Options) {
	home, _ := os.UserHomeDir() // none: no ~/.ssh or ~/.netrc defaults, as before
	o.SFTP.Home, o.FTP.Home = home, home
	o.SFTP.LocalUser = os.Getenv("USER")
	o.SFTP.AgentSocket = os.Getenv("SSH_AUTH_SOCK")
	o.SFTP.Passphrase, o.SFTP.Password = sshPassphrase, sshPassword
	if pw, ok := os.LookupEnv(ftp.PasswordEnv); ok {
		o.FTP.Login = &ftp.Login{User: os.Getenv(ftp.UserEnv), Password: pw}
	}
}
