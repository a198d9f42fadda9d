package main

import (
	"os"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/imgx/imgx/progress"
	"github.com/imgx/imgx/transport"
	"github.com/imgx/imgx/transport/dial"
	"github.com/imgx/imgx/transport/local"
	"github.com/imgx/imgx/transport/retry"
	"github.com/imgx/imgx/transport/sftp"
)

// transportFlags are the flags of every command that reads or writes a LOCATION: a path,
// -, file://, sftp://, ftp:// or ftps://.
type transportFlags struct {
	identities      []string
	knownHosts      string
	sshConfig       string
	insecureHostKey bool
	caCert          string
	insecureTLS     bool
	retries         int
	idleTimeout     time.Duration
	progress        string
	splitSize       string // write only
}

func (t *transportFlags) add(fs *pflag.FlagSet, write bool) {
	fs.StringArrayVar(&t.identities, "identity", nil, "SFTP: private key file (repeatable; tried after ssh-agent; passphrase from IMGX_SSH_PASSPHRASE or a prompt; servers that take passwords get IMGX_SSH_PASSWORD or a prompt)")
	fs.StringVar(&t.knownHosts, "known-hosts", "", "SFTP: known_hosts file (default ~/.ssh/known_hosts); unknown or changed host keys are refused")
	fs.StringVar(&t.sshConfig, "ssh-config", "", "SFTP: ssh_config file for Host entries (default ~/.ssh/config; \"none\" reads none)")
	fs.BoolVar(&t.insecureHostKey, "insecure-ignore-host-key", false, "SFTP: accept any host key (allows a man in the middle)")
	fs.StringVar(&t.caCert, "ca-cert", "", "FTPS: trust this CA certificate file besides the system pool")
	fs.BoolVar(&t.insecureTLS, "insecure-skip-tls-verify", false, "FTPS: accept any server certificate (allows a man in the middle)")
	fs.Var(newIntRange(&t.retries, 5, 0), "retries", "retries of transient network errors, with backoff (0: none)")
	fs.Var(newDurationMin(&t.idleTimeout, transport.DefaultIdleTimeout, 0), "idle-timeout", "SFTP, FTP: a connection on which nothing arrives for this long (SFTP keepalives unanswered) is closed and the transfer resumes on a new one (a retry)")
	fs.Var(newEnum(&t.progress, "auto", progressModes...), "progress", "progress display: auto, bar, plain or none")
	if write {
		fs.StringVar(&t.splitSize, "split-size", "", "local paths: split into volumes NAME.001, .002, … of this size (e.g. 4G, 700M); FAT32 targets split at 4 GiB automatically")
	}
}

func (t *transportFlags) options(e *Env) (dial.Options, error) {
	o := dial.Options{}
	o.SFTP = sftp.Options{
		Identities:            t.identities,
		KnownHosts:            t.knownHosts,
		SSHConfig:             t.sshConfig,
		InsecureIgnoreHostKey: t.insecureHostKey,
	}
	transportEnv(&o)
	o.FTP.CAFile = t.caCert
	o.FTP.InsecureSkipVerify = t.insecureTLS
	if t.retries <= 0 {
		o.NoRetry = true
	}
	if t.idleTimeout < 0 {
		return o, usagef("--idle-timeout: must not be negative")
	}
	o.IdleTimeout = t.idleTimeout
	o.Retry = retry.Options{MaxRetries: t.retries, Notify: func(op string, err error, attempt int, delay time.Duration) {
		e.Warnf("%s: %v; retry %d/%d in %s", op, err, attempt, t.retries, delay.Round(100*time.Millisecond))
	}}
	notice := func(msg string) { e.Warnf("%s", msg) }
	o.Local = local.Options{Notice: notice}
	o.SFTP.Notice = notice
	o.FTP.Notice = notice
	o.Progress = func(name string, remote bool) (progress.Progress, error) {
		return newProgress(e, t.progress, name, remote)
	}
	if t.splitSize != "" {
		n, err := local.ParseSize(t.splitSize)
		if err != nil {
			return o, usagef("--split-size: %v", err)
		}
		o.Local.SplitSize = n
	}
	return o, nil
}

// newProgress returns the renderer for a --progress mode. In auto mode a local copy
// shows a bar on a terminal and nothing otherwise; a network transfer shows plain
// periodic lines when stderr is not a terminal, for cron logs.
func newProgress(e *Env, mode, label string, remote bool) (progress.Progress, error) {
	f, ok := e.Stderr.(*os.File)
	if !ok || mode == "none" {
		return progress.Noop, nil
	}
	if (mode == "auto" || mode == "") && !remote && !term.IsTerminal(int(f.Fd())) {
		return progress.Noop, nil
	}
	p, err := progress.New(mode, f, label)
	if err != nil {
		return nil, usagef("--progress: %v", err)
	}
	e.track(p)
	return p, nil
}
