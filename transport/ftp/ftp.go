package ftp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/textproto"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/imgx/imgx/transport"
)

// Environment variables the imgx command line reads credentials from, into
// [Options.Login], used when ~/.netrc has none. The library reads no environment.
const (
	UserEnv     = "IMGX_FTP_USER"
	PasswordEnv = "IMGX_FTP_PASSWORD"
)

// Options configures an FTP backend; the CLI fills it from flags.
type Options struct {
	// Notice, if set, is told about listing entries that are skipped (names that
	// fail transport.CheckEntryName, links).
	Notice func(msg string)
	User   string // overrides the URL's user
	Netrc  string // "" means ~/.netrc (with Home), "none" reads none
	// Home is the local home directory, for the default ~/.netrc; "" reads no default
	// netrc file. The CLI passes the user's home directory.
	Home string
	// Login is used when the netrc file has no entry for the host, unless it names
	// another user than the location (or User) does. nil: the location's user with an
	// empty password, else anonymous. The CLI fills it from $IMGX_FTP_USER and
	// $IMGX_FTP_PASSWORD when the password variable is set.
	Login *Login
	// CAFile adds certificates to trust for FTPS besides the system pool.
	CAFile string
	// InsecureSkipVerify accepts any FTPS certificate (a man in the
	// middle can read the password). Only for tests and throwaway servers.
	InsecureSkipVerify bool
	DisableEPSV        bool          // go straight to PASV
	Timeout            time.Duration // per connection and reply; 0 means 30s
	// IdleTimeout fails a read or write on a control or data connection
	// that made no progress for that long (a silent link: no FIN, no
	// RST), a transient error that the retry layer resumes after; 0
	// means Timeout if set, else transport.DefaultIdleTimeout.
	IdleTimeout time.Duration
	// Dial replaces the TCP dialer for control and data connections
	// (tests inject faults here).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Login is a user name ("" for the location's, else anonymous) and password.
type Login struct {
	User, Password string
}

// Backend is a directory on an FTP server. Control connections are pooled;
// a transfer holds one for its whole duration.
type Backend struct {
	addr, user, password string
	root                 string // relative to the login directory, "" for it
	home                 string // the login directory, to return to after CWD
	loc                  string
	opts                 Options
	tls                  *tls.Config

	mu     sync.Mutex
	idle   []*ftp.ServerConn
	sets   map[*ftp.ServerConn]*connSet
	closed bool
}

// connSet is the network connections of one control connection: itself
// and its data connections. Killing them unblocks whatever waits on them.
type connSet struct {
	mu     sync.Mutex
	conns  map[net.Conn]bool
	killed bool
}

func (s *connSet) add(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.killed {
		c.Close()
		return
	}
	if s.conns == nil {
		s.conns = map[net.Conn]bool{}
	}
	for old := range s.conns { // forget the data connections that ended
		if ic, ok := old.(*idleConn); ok && ic.closed.Load() {
			delete(s.conns, old)
		}
	}
	s.conns[c] = true
}

func (s *connSet) kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.killed = true
	for c := range s.conns {
		c.Close()
	}
}

func (s *connSet) isKilled() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.killed
}

// guard closes c's network connections when ctx ends, so a transfer
// blocked on a silent link returns at once on SIGINT or SIGTERM. Calling
// the returned function stops the guard.
func (b *Backend) guard(ctx context.Context, c *ftp.ServerConn) (stop func() bool) {
	b.mu.Lock()
	set := b.sets[c]
	b.mu.Unlock()
	if set == nil {
		return func() bool { return true }
	}
	return context.AfterFunc(ctx, set.kill)
}

// release ends an operation on c: stop ends its guard, and c goes back to
// the pool unless err says it is broken or the guard fired (or is firing:
// stop returns false once ctx ended, and the connection is as good as
// closed then).
func (b *Backend) release(c *ftp.ServerConn, err error, stop func() bool) {
	if !stop() {
		b.quit(c)
		return
	}
	b.put(c, err)
}

// quit closes c and forgets it.
func (b *Backend) quit(c *ftp.ServerConn) {
	c.Quit()
	b.mu.Lock()
	delete(b.sets, c)
	b.mu.Unlock()
}

var _ transport.Backend = (*Backend)(nil)

// Dial logs in to the server of loc and returns a backend rooted at the
// directory loc.Path, relative to the login directory. The directory must
// exist.
func Dial(ctx context.Context, loc transport.Location, opts Options) (*Backend, error) {
	if loc.Scheme != transport.FTP && loc.Scheme != transport.FTPS {
		return nil, fmt.Errorf("ftp: location %s is not ftp:// or ftps://", loc)
	}
	port := loc.Port
	if port == 0 {
		port = 21
	}
	b := &Backend{addr: net.JoinHostPort(loc.Host, strconv.Itoa(port)), opts: opts}
	b.user, b.password = credentials(loc.Host, firstNonEmpty(opts.User, loc.User), opts.Netrc, opts.Home, opts.Login)
	l := loc
	if b.user != "anonymous" {
		l.User = b.user
	}
	b.loc = strings.TrimSuffix(l.String(), "/")
	if loc.Scheme == transport.FTPS {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if opts.CAFile != "" {
			pem, err := os.ReadFile(opts.CAFile)
			if err != nil {
				return nil, transport.Permanent(fmt.Errorf("ftps: CA file: %w", err))
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, transport.Permanent(fmt.Errorf("ftps: CA file %s: no PEM certificate", opts.CAFile))
			}
		}
		b.tls = &tls.Config{
			ServerName:         loc.Host,
			RootCAs:            pool,
			InsecureSkipVerify: opts.InsecureSkipVerify,
			MinVersion:         tls.VersionTLS12,
			// vsftpd (OpenSSL) intermittently fails TLS 1.3 uploads with
			// 426 "Failure reading network stream" (measured: 2 in 4 runs of
			// 100 MB); with TLS 1.2 none in 5.
			MaxVersion: tls.VersionTLS12,
			// Servers such as vsftpd insist that data connections resume
			// the control connection's TLS session.
			ClientSessionCache: tls.NewLRUClientSessionCache(8),
		}
	}
	b.root = strings.Trim(path.Clean(strings.TrimPrefix(loc.Path, "./")), "/")
	if b.root == "." {
		b.root = ""
	}
	c, err := b.get(ctx)
	if err != nil {
		return nil, err
	}
	if b.root != "" {
		if err := b.checkDir(c, b.root); err != nil {
			b.put(c, err)
			b.Close()
			return nil, transport.Permanent(fmt.Errorf("ftp %s: directory %s: %w", b.loc, b.root, err))
		}
	}
	b.put(c, nil)
	return b, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// credentials picks the login: ~/.netrc, then login (the environment, for the CLI), then
// anonymous.
func credentials(host, user, netrc, home string, login *Login) (string, string) {
	if netrc == "" && home != "" {
		netrc = home + "/.netrc"
	}
	if netrc != "none" && netrc != "" {
		if f, err := os.Open(netrc); err == nil {
			l, p, ok := netrcLookup(f, host, user)
			f.Close()
			if ok {
				return l, p
			}
		}
	}
	if login != nil && (user == "" || login.User == "" || login.User == user) {
		return firstNonEmpty(user, login.User, "anonymous"), login.Password
	}
	if user != "" {
		return user, ""
	}
	return "anonymous", "imgx@"
}

// get returns an idle control connection or logs in a new one.
func (b *Backend) get(ctx context.Context) (*ftp.ServerConn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, transport.ErrClosed
	}
	for n := len(b.idle); n > 0; n = len(b.idle) {
		c := b.idle[n-1]
		b.idle = b.idle[:n-1]
		if set := b.sets[c]; set != nil && set.isKilled() {
			delete(b.sets, c)
			continue
		}
		b.mu.Unlock()
		return c, nil
	}
	b.mu.Unlock()
	timeout := b.opts.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	idle := b.opts.IdleTimeout
	if idle <= 0 {
		idle = b.opts.Timeout
	}
	if idle <= 0 {
		idle = transport.DefaultIdleTimeout
	}
	set := &connSet{}
	var control *idleConn
	opts := []ftp.DialOption{
		ftp.DialWithContext(ctx),
		ftp.DialWithTimeout(timeout),
		ftp.DialWithShutTimeout(timeout),
		ftp.DialWithDisabledEPSV(b.opts.DisableEPSV),
	}
	// Our own dialer puts an idle timeout on every connection, so a
	// server that stops answering cannot hang a transfer forever.
	dial := b.opts.Dial
	if dial == nil {
		d := &net.Dialer{Timeout: timeout, KeepAlive: 15 * time.Second}
		dial = d.DialContext
	}
	opts = append(opts, ftp.DialWithDialFunc(func(network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		ic := &idleConn{Conn: c}
		ic.timeout.Store(int64(idle))
		if addr == b.addr {
			// Logging in may take the server a while (PAM, DNS): the
			// control connection has Timeout until it is done.
			ic.timeout.Store(int64(max(idle, timeout)))
			control = ic
		}
		set.add(ic)
		c = ic
		if b.tls != nil && addr != b.addr {
			c = tls.Client(c, b.tls) // a data connection
		}
		return c, nil
	}))
	if b.tls != nil {
		opts = append(opts, ftp.DialWithExplicitTLS(b.tls))
	}
	c, err := ftp.Dial(b.addr, opts...)
	if err != nil {
		return nil, b.wrap("connect", "", err)
	}
	if err := c.Login(b.user, b.password); err != nil {
		c.Quit()
		var te *textproto.Error
		var cve *tls.CertificateVerificationError
		if errors.As(err, &cve) {
			// Explicit TLS starts at login: a certificate problem is not a credentials problem.
			err = transport.Permanent(fmt.Errorf("TLS: server certificate not trusted: %w (add its CA with --ca-cert FILE)", err))
		} else if errors.As(err, &te) && te.Code == ftp.StatusNotLoggedIn || !errors.As(err, &te) && !isNetError(err) {
			err = transport.Permanent(fmt.Errorf("login as %s refused: %w (credentials come from ~/.netrc or %s/%s)", b.user, err, UserEnv, PasswordEnv))
		}
		return nil, b.wrap("login", "", err)
	}
	home, err := c.CurrentDir()
	if err != nil {
		c.Quit()
		return nil, b.wrap("login", "", err)
	}
	if control != nil {
		control.timeout.Store(int64(idle))
	}
	b.mu.Lock()
	b.home = home
	if b.sets == nil {
		b.sets = map[*ftp.ServerConn]*connSet{}
	}
	b.sets[c] = set
	b.mu.Unlock()
	return c, nil
}

// put returns c to the pool unless err says the connection is broken.
func (b *Backend) put(c *ftp.ServerConn, err error) {
	var te *textproto.Error
	if err != nil && !errors.As(err, &te) && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrExist) {
		b.quit(c)
		return
	}
	b.mu.Lock()
	if set := b.sets[c]; b.closed || len(b.idle) >= 4 || set != nil && set.isKilled() {
		b.mu.Unlock()
		b.quit(c)
		return
	}
	b.idle = append(b.idle, c)
	b.mu.Unlock()
}

func isNetError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed)
}

func (b *Backend) path(name string) string {
	if b.root == "" {
		return name
	}
	return b.root + "/" + name
}

// wrap adds context; a 550 reply in a lookup becomes fs.ErrNotExist.
func (b *Backend) wrap(op, name string, err error) error {
	if err == nil {
		return nil
	}
	var te *textproto.Error
	if errors.As(err, &te) && te.Code == ftp.StatusFileUnavailable && op != "write" && op != "create" && op != "publish" {
		err = fmt.Errorf("%w (%d %s)", fs.ErrNotExist, te.Code, te.Msg)
	}
	if name != "" {
		return fmt.Errorf("ftp %s: %s %s: %w", b.loc, op, name, err)
	}
	return fmt.Errorf("ftp %s: %s: %w", b.loc, op, err)
}

// checkDir tells a missing directory (CWD fails) from an empty one, which
// LIST on vsftpd does not. It leaves the connection in the login directory.
func (b *Backend) checkDir(c *ftp.ServerConn, dir string) error {
	if err := c.ChangeDir(dir); err != nil {
		var te *textproto.Error
		if errors.As(err, &te) && te.Code == ftp.StatusFileUnavailable {
			return fmt.Errorf("%w (%d %s)", fs.ErrNotExist, te.Code, te.Msg)
		}
		return err
	}
	return c.ChangeDir(b.home)
}

// Location implements transport.Backend.
func (b *Backend) Location() string { return b.loc }

// Create implements transport.Backend.
func (b *Backend) Create(ctx context.Context, name string) (transport.Upload, error) {
	if err := transport.CheckName(name); err != nil {
		return nil, err
	}
	c, err := b.get(ctx)
	if err != nil {
		return nil, err
	}
	if d := path.Dir(name); d != "." {
		if err := b.checkDir(c, b.path(d)); err != nil {
			b.put(c, err)
			return nil, transport.Permanent(b.wrap("create", name, err))
		}
	}
	u := &upload{ctx: ctx, b: b, c: c, stop: b.guard(ctx, c), name: name, tmp: b.path(transport.TempName(name)), statePath: b.path(transport.StateName(name))}
	if size, err := c.FileSize(u.tmp); err == nil {
		u.off, u.have = size, size
		if rd, err := c.Retr(u.statePath); err == nil {
			u.state, _ = io.ReadAll(io.LimitReader(rd, 64<<20))
			rd.Close()
		}
	}
	return u, nil
}

// upload streams through a pipe into StorFrom, one transfer at a time.
type upload struct {
	ctx           context.Context
	b             *Backend
	c             *ftp.ServerConn // nil once ended
	stop          func() bool     // ends the guard that closes c with ctx
	name, tmp     string
	statePath     string
	off           int64 // bytes written, counting those in flight
	have          int64 // size of the temporary file when Create found it
	state         []byte
	written, done bool
	cut           bool // Truncate asked for a shorter file than the server has
	pw            *io.PipeWriter
	result        chan error
}

func (u *upload) start() {
	pr, pw := io.Pipe()
	u.pw, u.result = pw, make(chan error, 1)
	off := u.off
	go func() {
		err := u.c.StorFrom(u.tmp, pr, uint64(off))
		pr.CloseWithError(err)
		u.result <- err
	}()
}

// finish ends the running transfer and waits for the server's reply.
func (u *upload) finish() error {
	if u.pw == nil {
		return nil
	}
	u.pw.Close()
	err := <-u.result
	u.pw = nil
	return err
}

func (u *upload) Write(p []byte) (int, error) {
	if u.done {
		return 0, transport.ErrClosed
	}
	if err := u.ctx.Err(); err != nil {
		return 0, err
	}
	u.written = true
	if u.pw == nil {
		u.start()
	}
	n, err := u.pw.Write(p)
	u.off += int64(n)
	if err != nil {
		return n, u.fail("write", err)
	}
	return n, nil
}

// fail ends the upload after an error: the control connection's state is
// unknown, so it is closed rather than pooled.
func (u *upload) fail(op string, err error) error {
	if u.pw != nil {
		u.pw.CloseWithError(err)
		if e := <-u.result; e != nil {
			err = e
		}
		u.pw = nil
	}
	u.done = true
	u.stop()
	u.b.quit(u.c)
	return u.b.wrap(op, u.name, err)
}

func (u *upload) Offset() int64 { return u.off }
func (u *upload) State() []byte { return u.state }

// Truncate: FTP cannot shorten a file. Writing restarts at size with
// REST+STOR; vsftpd then cuts the file at the end of that transfer, and
// Commit checks the size so that a server which does not cannot publish
// stale trailing bytes.
func (u *upload) Truncate(ctx context.Context, size int64) error {
	if err := transport.CheckTruncate(u.done, u.written, size, u.off); err != nil {
		return err
	}
	u.off = size
	u.cut = size < u.have
	return nil
}

func (u *upload) Checkpoint(ctx context.Context, state []byte) error {
	if u.done {
		return transport.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := u.finish(); err != nil {
		return u.fail("write", err)
	}
	// Written beside and renamed over the old state (RNFR/RNTO replaces a file on servers
	// that rename with rename(2), as vsftpd and ProFTPD do), so a cut while the state is
	// written cannot lose the resume point already saved. A server that will not replace
	// gets the state written in place, as before.
	next := u.statePath + ".new"
	if err := u.c.Stor(next, strings.NewReader(string(state))); err != nil {
		return u.fail("save resume state", err)
	}
	if err := u.c.Rename(next, u.statePath); err != nil {
		if err := u.c.Stor(u.statePath, strings.NewReader(string(state))); err != nil {
			return u.fail("save resume state", err)
		}
		u.c.Delete(next)
	}
	return nil
}

func (u *upload) Commit(ctx context.Context) error {
	if u.done {
		return transport.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if !u.written && (u.off == 0 || u.cut) {
		u.start() // an empty upload, or one cut short, still needs a STOR
	}
	if err := u.finish(); err != nil {
		return u.fail("write", err)
	}
	size, err := u.c.FileSize(u.tmp)
	if err != nil {
		return u.fail("check size", err)
	}
	if size != u.off {
		u.c.Delete(u.tmp)
		return u.fail("publish", transport.Permanent(fmt.Errorf("server holds %d bytes, %d were sent; the partial file was removed", size, u.off)))
	}
	if err := u.c.Rename(u.tmp, u.b.path(u.name)); err != nil {
		return u.fail("publish", err)
	}
	u.c.Delete(u.statePath)
	u.c.Delete(u.statePath + ".new") // left by a cut between writing and renaming it
	u.done = true
	u.b.release(u.c, nil, u.stop)
	return nil
}

func (u *upload) Abort(context.Context) error {
	if u.done {
		return transport.ErrClosed
	}
	if u.pw != nil {
		u.fail("abort", errors.New("aborted"))
		return nil
	}
	u.done = true
	u.b.release(u.c, nil, u.stop)
	return nil
}

func (u *upload) Discard(ctx context.Context) error {
	if !u.done {
		u.Abort(ctx)
	}
	c, err := u.b.get(ctx)
	if err != nil {
		return err
	}
	err = c.Delete(u.tmp)
	c.Delete(u.statePath)
	c.Delete(u.statePath + ".new")
	u.b.put(c, err)
	return u.b.wrap("discard", u.name, err)
}

// Open implements transport.Backend.
func (b *Backend) Open(ctx context.Context, name string, offset int64) (io.ReadCloser, error) {
	if err := transport.CheckName(name); err != nil {
		return nil, err
	}
	c, err := b.get(ctx)
	if err != nil {
		return nil, err
	}
	if offset > 0 {
		// REST past the end is an error on some servers; there is
		// nothing to read there anyway.
		if size, err := c.FileSize(b.path(name)); err == nil && offset >= size {
			b.put(c, nil)
			return io.NopCloser(strings.NewReader("")), nil
		}
	}
	stop := b.guard(ctx, c)
	resp, err := c.RetrFrom(b.path(name), uint64(offset))
	if err != nil {
		stop()
		b.put(c, err)
		return nil, b.wrap("open", name, err)
	}
	return transport.ContextReader(ctx, &reader{b: b, c: c, stop: stop, resp: resp, name: name}), nil
}

type reader struct {
	b    *Backend
	c    *ftp.ServerConn
	stop func() bool // ends the guard that closes c with ctx
	resp *ftp.Response
	name string
	err  error
}

func (r *reader) Read(p []byte) (int, error) {
	n, err := r.resp.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
		return n, r.b.wrap("read", r.name, err)
	}
	return n, err
}

func (r *reader) Close() error {
	if r.c == nil {
		return nil
	}
	if r.err != nil {
		r.stop()
		r.b.quit(r.c)
		r.c = nil
		return nil
	}
	err := r.resp.Close()
	r.b.release(r.c, err, r.stop)
	r.c = nil
	return nil
}

// Stat implements transport.Backend: SIZE and MDTM for a file, the parent's
// listing for anything else.
func (b *Backend) Stat(ctx context.Context, name string) (transport.FileInfo, error) {
	if err := transport.CheckName(name); err != nil {
		return transport.FileInfo{}, err
	}
	c, err := b.get(ctx)
	if err != nil {
		return transport.FileInfo{}, err
	}
	stop := b.guard(ctx, c)
	fi, err := b.stat(c, name)
	b.release(c, err, stop)
	return fi, b.wrap("stat", name, err)
}

func (b *Backend) stat(c *ftp.ServerConn, name string) (transport.FileInfo, error) {
	if size, err := c.FileSize(b.path(name)); err == nil {
		fi := transport.FileInfo{Name: path.Base(name), Size: size}
		if c.IsGetTimeSupported() {
			fi.ModTime, _ = c.GetTime(b.path(name))
		}
		return fi, nil
	}
	dir := path.Dir(name)
	if dir == "." {
		dir = ""
	}
	entries, err := b.list(c, dir)
	if err != nil {
		return transport.FileInfo{}, err
	}
	for _, e := range entries {
		if e.Name == path.Base(name) {
			return e, nil
		}
	}
	return transport.FileInfo{}, fs.ErrNotExist
}

func (b *Backend) list(c *ftp.ServerConn, dir string) ([]transport.FileInfo, error) {
	p := b.path(dir)
	if dir == "" {
		p = b.root
	}
	if p != "" {
		if err := b.checkDir(c, p); err != nil {
			return nil, err
		}
	}
	if p == "" {
		p = "."
	}
	entries, err := c.List(p)
	if err != nil {
		return nil, err
	}
	var out []transport.FileInfo
	for _, e := range entries {
		if e.Name == "." || e.Name == ".." || transport.IsTempName(e.Name) {
			continue
		}
		// Names come from the server's listing: one that is not a plain element
		// (a separator, "..", a control character) never becomes a path.
		if err := transport.CheckEntryName(e.Name); err != nil {
			b.notice("skipping an entry of %s: %v", b.Location(), err)
			continue
		}
		if e.Type == ftp.EntryTypeLink {
			b.notice("skipping %q in %s: a symbolic link", e.Name, b.Location())
			continue
		}
		out = append(out, transport.FileInfo{Name: e.Name, Size: int64(e.Size), ModTime: e.Time,
			IsDir: e.Type == ftp.EntryTypeFolder})
	}
	return out, nil
}

func (b *Backend) notice(format string, args ...any) {
	if b.opts.Notice != nil {
		b.opts.Notice(fmt.Sprintf(format, args...))
	}
}

// List implements transport.Backend.
func (b *Backend) List(ctx context.Context, dir string, fn func(transport.FileInfo) error) error {
	if err := transport.CheckDir(dir); err != nil {
		return err
	}
	c, err := b.get(ctx)
	if err != nil {
		return err
	}
	entries, err := b.list(c, dir)
	b.put(c, err)
	if err != nil {
		return b.wrap("list", dir, err)
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// Remove implements transport.Backend.
func (b *Backend) Remove(ctx context.Context, name string) error {
	if err := transport.CheckName(name); err != nil {
		return err
	}
	c, err := b.get(ctx)
	if err != nil {
		return err
	}
	stop := b.guard(ctx, c)
	err = c.Delete(b.path(name))
	b.release(c, err, stop)
	return b.wrap("remove", name, err)
}

// Rename implements transport.Backend. The existence check and RNFR/RNTO
// are separate commands: a concurrent writer can slip between.
func (b *Backend) Rename(ctx context.Context, oldname, newname string) error {
	if err := transport.CheckName(oldname); err != nil {
		return err
	}
	if err := transport.CheckName(newname); err != nil {
		return err
	}
	c, err := b.get(ctx)
	if err != nil {
		return err
	}
	stop := b.guard(ctx, c)
	err = b.rename(c, oldname, newname)
	b.release(c, err, stop)
	return b.wrap("rename", oldname, err)
}

func (b *Backend) rename(c *ftp.ServerConn, oldname, newname string) error {
	if _, err := b.stat(c, oldname); err != nil {
		return err
	}
	if _, err := b.stat(c, newname); err == nil {
		return fmt.Errorf("%s: %w", newname, fs.ErrExist)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if d := path.Dir(newname); d != "." {
		parts := strings.Split(d, "/")
		for i := range parts {
			c.MakeDir(b.path(strings.Join(parts[:i+1], "/"))) // exists already: fine
		}
	}
	return c.Rename(b.path(oldname), b.path(newname))
}

// IsNotExist implements transport.Backend.
func (b *Backend) IsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// IsPermanent implements transport.Backend: 5xx replies and 452 (no
// space) are final, other 4xx replies and network errors are not. TLS
// certificate errors are permanent.
func (b *Backend) IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	if transport.IsPermanent(err) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrExist) {
		return true
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code >= 500 || te.Code == ftp.Status452 || te.Code == ftp.StatusActionAborted && diskError(te.Msg)
	}
	var ce *tls.CertificateVerificationError
	var ue x509.UnknownAuthorityError
	var he x509.HostnameError
	if errors.As(err, &ce) || errors.As(err, &ue) || errors.As(err, &he) {
		return true
	}
	return false
}

// Close implements transport.Backend.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for _, c := range b.idle {
		c.Quit()
		delete(b.sets, c)
	}
	b.idle = nil
	return nil
}

// idleConn fails a read or write that makes no progress for timeout.
type idleConn struct {
	net.Conn
	timeout atomic.Int64 // a time.Duration
	closed  atomic.Bool
}

func (c *idleConn) Close() error {
	c.closed.Store(true)
	return c.Conn.Close()
}

func (c *idleConn) Read(p []byte) (int, error) {
	c.Conn.SetReadDeadline(time.Now().Add(time.Duration(c.timeout.Load())))
	return c.Conn.Read(p)
}

func (c *idleConn) Write(p []byte) (int, error) {
	c.Conn.SetWriteDeadline(time.Now().Add(time.Duration(c.timeout.Load())))
	return c.Conn.Write(p)
}

// diskError recognises a 451 that is a storage failure: vsftpd answers a
// full disk with "451 Failure writing to local file.", and retrying that
// only fills the disk again.
func diskError(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "writing to local file") || strings.Contains(m, "space") ||
		strings.Contains(m, "quota") || strings.Contains(m, "disk")
}
