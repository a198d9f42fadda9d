package sftp

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/imgx/imgx/transport"
)

// PassphraseEnv names the environment variable the imgx command line reads the
// passphrase of encrypted identity files from (the library reads none; see
// [Options.Passphrase]).
const PassphraseEnv = "IMGX_SSH_PASSPHRASE"

// PasswordEnv names the environment variable the imgx command line reads the login
// password from, for servers that take passwords (keys are offered first; the library
// reads none, see [Options.Password]).
const PasswordEnv = "IMGX_SSH_PASSWORD"

// authMethods collects the agent's keys and the identity files, then password
// and keyboard-interactive logins when a password can be had. Explicit
// identities that cannot be read are errors; the default ~/.ssh/id_* files
// are tried quietly. It returns a closer for the agent connection.
func authMethods(opts Options, hc hostConfig, user, addr string) ([]ssh.AuthMethod, func(), error) {
	var signers []ssh.Signer
	closer := func() {}
	if sock := opts.AgentSocket; sock != "" && !opts.NoAgent && !hc.IdentitiesOnly {
		if conn, err := net.Dial("unix", sock); err == nil {
			ag := agent.NewClient(conn)
			if s, err := ag.Signers(); err == nil {
				signers = append(signers, s...)
			}
			closer = func() { conn.Close() }
		}
	}
	explicit := append(append([]string(nil), opts.Identities...), hc.IdentityFiles...)
	for _, f := range explicit {
		s, err := loadKey(f, opts.Passphrase)
		if err != nil {
			closer()
			return nil, nil, transport.Permanent(err)
		}
		signers = append(signers, s)
	}
	if len(explicit) == 0 && opts.Home != "" {
		for _, n := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
			if s, err := loadKey(filepath.Join(opts.Home, ".ssh", n), nil); err == nil {
				signers = append(signers, s)
			}
		}
	}
	pw := passwordMethods(opts, user, addr)
	if len(signers) == 0 && len(pw) == 0 {
		closer()
		return nil, nil, transport.Permanent(errors.New("no SSH key: start ssh-agent, pass an identity file, or create ~/.ssh/id_ed25519 (or set " + PasswordEnv + " for a password login)"))
	}
	var methods []ssh.AuthMethod
	if len(signers) > 0 {
		methods = append(methods, ssh.PublicKeys(signers...))
	}
	return append(methods, pw...), closer, nil
}

// passwordMethods answers password and keyboard-interactive challenges with the password
// from opts.Password. It is asked for once, when the server first wants it, and reused on
// reconnects.
func passwordMethods(opts Options, user, addr string) []ssh.AuthMethod {
	if opts.Password == nil {
		return nil
	}
	var (
		once sync.Once
		pw   string
		perr error
	)
	get := func() (string, error) {
		once.Do(func() {
			b, err := opts.Password(user, addr)
			pw, perr = string(b), err
		})
		return pw, perr
	}
	interactive := func(_, _ string, questions []string, echos []bool) ([]string, error) {
		answers := make([]string, len(questions))
		for i, q := range questions {
			if echos[i] {
				return nil, fmt.Errorf("server asks %q: imgx answers only password prompts", q)
			}
			p, err := get()
			if err != nil {
				return nil, err
			}
			answers[i] = p
		}
		return answers, nil
	}
	return []ssh.AuthMethod{ssh.PasswordCallback(get), ssh.KeyboardInteractive(interactive)}
}

func loadKey(file string, prompt func(string) ([]byte, error)) (ssh.Signer, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("identity %s: %w", file, err)
	}
	s, err := ssh.ParsePrivateKey(data)
	var missing *ssh.PassphraseMissingError
	if !errors.As(err, &missing) {
		if err != nil {
			return nil, fmt.Errorf("identity %s: %w", file, err)
		}
		return s, nil
	}
	if prompt == nil {
		return nil, fmt.Errorf("identity %s is encrypted: set %s or load it into ssh-agent", file, PassphraseEnv)
	}
	pass, err := prompt(file)
	if err != nil {
		return nil, fmt.Errorf("identity %s: passphrase: %w", file, err)
	}
	s, err = ssh.ParsePrivateKeyWithPassphrase(data, pass)
	if err != nil {
		return nil, fmt.Errorf("identity %s: %w", file, err)
	}
	return s, nil
}

// HostKeyError is a host key that is not known or differs from the known
// one. It is permanent.
type HostKeyError struct {
	Host        string
	Fingerprint string // SHA256:... of the key the server offered
	KeyType     string
	Changed     bool     // a different key is known for the host
	Known       []string // file:line of the known keys, when Changed
	Files       []string // the known_hosts files consulted
}

func (e *HostKeyError) Error() string {
	if e.Changed {
		return fmt.Sprintf("host key for %s has CHANGED: server offers %s %s, known keys at %s; someone may be intercepting the connection, or the server was reinstalled (then remove the old line)",
			e.Host, e.KeyType, e.Fingerprint, strings.Join(e.Known, ", "))
	}
	return fmt.Sprintf("host key for %s is unknown: server offers %s %s; check the fingerprint with the server's admin and add the key to %s (ssh-keyscan, or connect once with ssh)",
		e.Host, e.KeyType, e.Fingerprint, strings.Join(e.Files, " or "))
}

// hostKeyCheck returns the callback checking known_hosts files, and the
// key algorithms known for the host, so the server is asked for a key type
// we can check rather than one we would wrongly call changed.
func hostKeyCheck(files []string, hostport string) (ssh.HostKeyCallback, []string, error) {
	var existing []string
	for _, f := range files {
		if _, err := os.Stat(f); err == nil {
			existing = append(existing, f)
		}
	}
	var cb ssh.HostKeyCallback
	if len(existing) > 0 {
		var err error
		cb, err = knownhosts.New(existing...)
		if err != nil {
			return nil, nil, transport.Permanent(fmt.Errorf("known hosts: %w", err))
		}
	} else {
		cb = func(string, net.Addr, ssh.PublicKey) error { return &knownhosts.KeyError{} }
	}
	// Ask the database with a key it cannot hold to learn the known ones.
	var algos []string
	var kerr *knownhosts.KeyError
	if err := cb(hostport, &net.TCPAddr{}, probeKey); errors.As(err, &kerr) {
		for _, k := range kerr.Want {
			algos = append(algos, algorithmsFor(k.Key.Type())...)
		}
	}
	check := func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := cb(hostname, remote, key)
		if err == nil {
			return nil
		}
		he := &HostKeyError{Host: hostname, Fingerprint: ssh.FingerprintSHA256(key), KeyType: key.Type(), Files: files}
		var ke *knownhosts.KeyError
		var re *knownhosts.RevokedError
		switch {
		case errors.As(err, &ke) && len(ke.Want) > 0:
			he.Changed = true
			for _, w := range ke.Want {
				he.Known = append(he.Known, fmt.Sprintf("%s:%d", w.Filename, w.Line))
			}
		case errors.As(err, &re):
			return transport.Permanent(fmt.Errorf("host key for %s is revoked in %s:%d", hostname, re.Revoked.Filename, re.Revoked.Line))
		case errors.As(err, &ke):
		default:
			return transport.Permanent(err)
		}
		return transport.Permanent(he)
	}
	return check, algos, nil
}

func algorithmsFor(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{keyType}
}

// probeKey is a fixed ed25519 public key no known_hosts file holds.
var probeKey = func() ssh.PublicKey {
	k, err := ssh.NewPublicKey(ed25519.PublicKey(make([]byte, 32)))
	if err != nil {
		panic(err)
	}
	return k
}()
