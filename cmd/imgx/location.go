package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/imgx/imgx/internal/safetext"
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
		Passphrase:            sshPassphrase,
		Password:              sshPassword,
	}
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
	if t.splitSize != "" {
		n, err := parseSize(t.splitSize)
		if err != nil {
			return o, usagef("--split-size: %v", err)
		}
		o.Local.SplitSize = n
	}
	return o, nil
}

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

// newProgress returns the renderer chosen by --progress, drawing on stderr.
func (t *transportFlags) newProgress(e *Env, label string, remote bool) (progress.Progress, error) {
	return newProgress(e, t.progress, label, remote)
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

// parseSize parses "4G", "700M", "64MiB", "1000000" (binary units).
func parseSize(s string) (int64, error) {
	u := strings.ToUpper(strings.TrimSpace(s))
	u = strings.TrimSuffix(strings.TrimSuffix(u, "IB"), "B")
	mult := int64(1)
	if u != "" {
		switch u[len(u)-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			u = u[:len(u)-1]
		}
	}
	var n int64
	if _, err := fmt.Sscanf(u, "%d", &n); err != nil || n <= 0 || fmt.Sprint(n) != u {
		return 0, fmt.Errorf("invalid size %q (want e.g. 4G, 700M)", s)
	}
	return n * mult, nil
}

// input is an opened LOCATION to read from.
type input struct {
	r    io.ReadCloser
	name string // what to call it in messages
	size int64  // -1 if unknown
	dir  string // set instead of r for a local directory
}

// openInput opens a LOCATION for reading: "-" is standard input; a local directory is
// returned as dir; anything else goes through a transport backend, which reads local
// volume sets as one file and re-opens remote reads at the byte reached after a dropped
// connection.
func openInput(ctx context.Context, e *Env, s string, tf *transportFlags) (*input, error) {
	loc, err := transport.ParseLocation(s)
	if err != nil {
		return nil, usagef("%v", err)
	}
	if loc.Scheme == transport.Stdio {
		if f, ok := e.Stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			return nil, withHint(usagef("standard input is a terminal"), "pipe a file in, or give a file or URL")
		}
		return &input{r: io.NopCloser(e.Stdin), name: "standard input", size: -1}, nil
	}
	if loc.Scheme == transport.File {
		if fi, err := os.Stat(loc.Path); err == nil && fi.IsDir() {
			return &input{dir: loc.Path, name: loc.Path}, nil
		}
		// The path on the command line is the operator's: a link there is followed (the
		// backend still opens only a regular file). Links inside a carrier directory,
		// which someone else wrote, are not.
		if p, err := filepath.EvalSymlinks(loc.Path); err == nil {
			loc.Path = p
		}
	}
	opts, err := tf.options(e)
	if err != nil {
		return nil, err
	}
	b, name, err := dial.Open(ctx, loc, opts)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", safetext.Quote(s), err)
	}
	size := int64(-1)
	if fi, err := b.Stat(ctx, name); err == nil {
		size = fi.Size
	} else if b.IsNotExist(err) {
		b.Close()
		return nil, fmt.Errorf("open %s: %w", safetext.Quote(s), err)
	}
	rc, err := b.Open(ctx, name, 0)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("open %s: %w", safetext.Quote(s), err)
	}
	p, err := tf.newProgress(e, name, loc.IsRemote())
	if err != nil {
		rc.Close()
		b.Close()
		return nil, err
	}
	p.SetTotal(size)
	return &input{r: &readCloser{Reader: progress.Reader(rc, p), close: func() error {
		p.Done()
		err := rc.Close()
		b.Close()
		return err
	}}, name: s, size: size}, nil
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r *readCloser) Close() error { return r.close() }

// outputResult describes a finished write to a LOCATION.
type outputResult struct {
	Location string `json:"location"`
	Size     int64  `json:"size"`
	Resumed  int64  `json:"resumed"`
	SHA256   string `json:"sha256"`
}

// progressModes are the values of --progress.
var progressModes = []string{"auto", "bar", "plain", "none"}

// checkOutput returns the usage errors of an output LOCATION (malformed, a terminal, a
// directory, a bad --split-size), so that a command can refuse before it does any work.
func checkOutput(e *Env, s string, tf *transportFlags) error {
	loc, err := transport.ParseLocation(s)
	if err != nil {
		return usagef("%v", err)
	}
	if loc.Scheme == transport.Stdio {
		if f, ok := e.Stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			return withHint(usagef("refusing to write binary data to a terminal"), "use -o FILE or redirect standard output")
		}
		return nil
	}
	if loc.IsDir() || dial.UserDirExists(loc) {
		return usagef("output %s is a directory: name the file, e.g. %s/images.imgx", s, strings.TrimSuffix(s, "/"))
	}
	_, err = tf.options(e)
	return err
}

// writeLocation streams what fill writes to a LOCATION: standard output for "-" (never a
// terminal), else an upload through a transport backend that publishes the file under
// its name only when complete (a temporary name first, then an atomic rename), resumes an
// interrupted earlier upload of the same bytes, retries transient errors and, with
// verifyAfter, reads the file back and checks its sha256. sizeHint (0 if unknown) lets a
// local target refuse early when the disk is too small.
//
// Local paths resume like SFTP and FTP: a 30 GB bundle to a USB stick pulled out at 90%
// is worth resuming, and bundles are reproducible, so the re-run regenerates the prefix,
// checks it against the checkpoint hashes saved beside .NAME.imgx-part (nothing is read
// back from the stick) and writes only the rest.
func writeLocation(ctx context.Context, e *Env, s string, tf *transportFlags, sizeHint int64, verifyAfter bool, fill func(w io.Writer) error) (*outputResult, error) {
	if err := checkOutput(e, s, tf); err != nil {
		return nil, err
	}
	loc, err := transport.ParseLocation(s)
	if err != nil {
		return nil, usagef("%v", err)
	}
	if loc.Scheme == transport.Stdio {
		return &outputResult{Location: "-"}, fill(e.Stdout)
	}
	opts, err := tf.options(e)
	if err != nil {
		return nil, err
	}
	b, name, err := dial.Open(ctx, loc, opts)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", safetext.Quote(s), err)
	}
	defer b.Close()
	p, err := tf.newProgress(e, name, loc.IsRemote())
	if err != nil {
		return nil, err
	}
	p.SetTotal(sizeHint)

	pr, pw := io.Pipe()
	fillErr := make(chan error, 1)
	go func() {
		err := fill(pw)
		pw.CloseWithError(err)
		fillErr <- err
	}()
	po := putTuning
	po.Size, po.Progress = sizeHint, p
	res, err := transport.Put(ctx, b, name, pr, po)
	pr.CloseWithError(errUploadStopped)
	if ferr := <-fillErr; ferr != nil && !errors.Is(ferr, errUploadStopped) {
		// The producer's error is the cause; the upload only saw the pipe close.
		return nil, ferr
	}
	if err != nil {
		hint := "the partial upload is kept: run the same command again to resume"
		switch {
		case errors.Is(err, local.ErrSymlink) || errors.Is(err, local.ErrNotRegular) || errors.Is(err, local.ErrLinked):
			hint = "nothing was published under " + name + "; imgx does not write through links, special files or hard links it finds on a carrier"
		case b.IsPermanent(err) && !errors.Is(err, context.Canceled):
			hint = "nothing was published under " + name + "; what was written is kept beside it, and the same command resumes from there once the cause is fixed"
		}
		return nil, withHint(fmt.Errorf("write %s: %w", s, err), hint)
	}
	out := &outputResult{Location: s, Size: res.Size, Resumed: res.Resumed, SHA256: res.SHA256}
	if res.Resumed > 0 {
		e.Warnf("resumed an interrupted upload: %s were already there", humanSize(res.Resumed))
	}
	if verifyAfter {
		if err := readBack(ctx, b, name, res); err != nil {
			return nil, fmt.Errorf("verify %s after writing: %w", s, err)
		}
	}
	return out, nil
}

var errUploadStopped = errors.New("upload stopped")

// putTuning is the base of every upload's options; tests shrink the checkpoint interval
// so that resume is exercised with little data.
var putTuning transport.PutOptions

// readBack re-reads a written file and compares its sha256 with what was sent.
func readBack(ctx context.Context, b transport.Backend, name string, res transport.PutResult) error {
	rc, err := b.Open(ctx, name, 0)
	if err != nil {
		return err
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); n != res.Size || got != res.SHA256 {
		return fmt.Errorf("read back %d bytes with sha256 %s, sent %d bytes with sha256 %s", n, got, res.Size, res.SHA256)
	}
	return nil
}
