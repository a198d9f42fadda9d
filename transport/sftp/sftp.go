package sftp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/imgx/imgx/progress"
	"github.com/imgx/imgx/transport"
)

// Options configures an SFTP backend; the CLI fills it from flags. The
// zero value uses ~/.ssh/config, ~/.ssh/known_hosts, ssh-agent and the
// default key files.
type Options struct {
	// Notice, if set, is told about listing entries that are skipped (names that
	// fail transport.CheckEntryName, links and special files).
	Notice     func(msg string)
	User       string   // overrides the URL's and ~/.ssh/config's user
	Identities []string // key files (--identity, repeatable), tried after the agent
	// KnownHosts replaces ~/.ssh/known_hosts (--known-hosts FILE).
	KnownHosts string
	// InsecureIgnoreHostKey accepts any host key. Only for tests and
	// throwaway servers: it allows a man in the middle.
	InsecureIgnoreHostKey bool
	// SSHConfig is the ssh_config file to read; "" means ~/.ssh/config
	// and "none" reads none.
	SSHConfig string
	NoAgent   bool // ignore AgentSocket
	// AgentSocket is ssh-agent's socket, whose keys are tried first; "" uses no agent.
	// The library reads no environment: the CLI passes $SSH_AUTH_SOCK.
	AgentSocket string
	// LocalUser is the local user name: the login when neither User, the URL nor the
	// ssh_config names one, and what "Match localuser" compares. The CLI passes $USER.
	LocalUser string
	// Home is the local home directory: ~ in paths, and the defaults ~/.ssh/config,
	// ~/.ssh/known_hosts and the ~/.ssh/id_* keys. "" reads none of those defaults.
	// The CLI passes the user's home directory.
	Home string
	// Passphrase is asked for the passphrase of an encrypted key file (the CLI reads
	// $IMGX_SSH_PASSPHRASE, else prompts on the terminal). nil: such keys fail.
	Passphrase func(keyFile string) ([]byte, error)
	// Password is asked for a password login, when the server wants one after the keys,
	// at most once per backend (the CLI reads $IMGX_SSH_PASSWORD, else prompts on the
	// terminal). nil: no password logins.
	Password func(user, addr string) ([]byte, error)
	// Ciphers in order of preference; nil prefers aes128-gcm.
	Ciphers []string
	// MaxPacket overrides the read/write request size; 0 picks 255 KiB
	// for OpenSSH 8.6 and later and less for other servers.
	MaxPacket int
	// Concurrency is the number of requests in flight per file; 0 means 16
	// (4 MiB with 255 KiB requests: the SSH channel window is 2 MiB, more only
	// queues on the server and costs memory). Writes keep at most 8 MiB in
	// flight whatever it says.
	Concurrency int
	// Timeout bounds connecting and the SSH handshake; 0 means 30s.
	Timeout time.Duration
	// IdleTimeout ends a connection on which nothing arrived for that
	// long although keepalives were sent; 0 means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// Dial replaces the TCP dialer (tests put a fault-injecting proxy here).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// DefaultCiphers prefers aes128-gcm, which is fastest with AES-NI.
var DefaultCiphers = []string{
	ssh.CipherAES128GCM, ssh.CipherChaCha20Poly1305, ssh.CipherAES256GCM,
	"aes128-ctr", "aes192-ctr", "aes256-ctr",
}

// maxOpenSSHPacket is what OpenSSH's sftp-server reads and writes in one request
// since 8.6 (its limits@openssh.com answer: 256 KiB messages less 1 KiB of headers),
// and what OpenSSH's own sftp client asks of it.
const maxOpenSSHPacket = 255 << 10

// packetSize picks the largest read and write size the server is known to
// serve in full (a short answer costs a round trip). OpenSSH's sftp-server
// serves 255 KiB since 8.6 and 64 KiB reads before; the SFTP draft only
// promises about 32 KiB. serverVersion is the SSH banner. limits says whether
// the sftp-server that answered advertises limits@openssh.com, which
// OpenSSH's does since 8.6 whatever SSH server is in front of it (Dropbear
// runs OpenSSH's sftp-server); it is unknown (nil) before the session starts.
func packetSize(serverVersion string, limits *bool, override int) int {
	if override > 0 {
		return override
	}
	const guaranteed = 32 << 10
	if limits != nil && *limits {
		return maxOpenSSHPacket
	}
	_, v, ok := strings.Cut(serverVersion, "OpenSSH_")
	if !ok {
		return guaranteed
	}
	var major, minor int
	if n, _ := fmt.Sscanf(v, "%d.%d", &major, &minor); n < 1 {
		return guaranteed
	}
	switch {
	case major > 8 || major == 8 && minor >= 6:
		if limits != nil {
			// It should have advertised limits@openssh.com and did not: another
			// sftp subsystem behind OpenSSH's sshd.
			return guaranteed
		}
		return maxOpenSSHPacket
	default:
		return 64 << 10
	}
}

// Defaults of Options.Concurrency and the bytes in flight, measured against
// OpenSSH 9.2 on loopback (docs/benchmarks.md).
const (
	defaultConcurrency = 16
	// maxWriteBehind bounds the bytes of write requests in flight: the retry layer
	// resends them from its replay buffer (16 MiB by default) after a reconnect.
	maxWriteBehind = 8 << 20
)

// Backend is a directory on an SFTP server. It reconnects on the next
// call after the connection was lost.
type Backend struct {
	addr, user string
	root       string // absolute directory on the server, no trailing slash
	loc        string
	config     *ssh.ClientConfig
	opts       Options
	closeAgent func()

	mu     sync.Mutex
	conn   *connection
	closed bool

	// cut maps a temporary file to the end of the prefix its last upload had
	// acknowledged without a gap, when requests failed with others in flight: the
	// bytes after it may have holes, and the next Create cuts them off.
	cutMu sync.Mutex
	cut   map[string]int64
}

// noteCut records that tmp may hold unacknowledged bytes after safe.
func (b *Backend) noteCut(tmp string, safe int64) {
	b.cutMu.Lock()
	defer b.cutMu.Unlock()
	if b.cut == nil {
		b.cut = map[string]int64{}
	}
	if old, ok := b.cut[tmp]; !ok || safe < old {
		b.cut[tmp] = safe
	}
}

// takeCut returns and forgets the recorded safe end of tmp.
func (b *Backend) takeCut(tmp string) (int64, bool) {
	b.cutMu.Lock()
	defer b.cutMu.Unlock()
	safe, ok := b.cut[tmp]
	delete(b.cut, tmp)
	return safe, ok
}

type connection struct {
	ssh  *ssh.Client
	sftp *sftp.Client
	tcp  *watchConn
	dead chan struct{}
	// packet is the size of one read or write request; readDepth and writeDepth
	// how many of them a file keeps in flight.
	packet, readDepth, writeDepth int
	// broken is set when the connection was found or made unusable,
	// before dead closes, so the next operation dials a new one.
	broken atomic.Bool
}

// kill closes the connection: every request in flight fails with
// "connection lost", which the retry layer treats as transient.
func (c *connection) kill() {
	c.broken.Store(true)
	c.ssh.Close()
}

// guard kills c when ctx ends, so a read or write blocked on a silent link
// returns at once on SIGINT or SIGTERM instead of after the idle timeout.
// Calling the returned function stops the guard.
func (c *connection) guard(ctx context.Context) (stop func() bool) {
	return context.AfterFunc(ctx, c.kill)
}

// failed kills c after an error that was not the server's answer (a lost
// connection, a network error), so that the retry dials a new connection
// instead of finding this one not yet noticed dead.
func (c *connection) failed(err error) {
	var se *sftp.StatusError
	if err == nil || errors.As(err, &se) || errors.Is(err, io.EOF) || errors.Is(err, fs.ErrNotExist) ||
		errors.Is(err, fs.ErrPermission) || errors.Is(err, fs.ErrExist) {
		return
	}
	c.kill()
}

// watchConn remembers when bytes last arrived. It reads the socket in chunks of
// up to 256 KiB: x/crypto/ssh reads through a 4 KiB bufio.Reader, two read calls
// per 32 KiB SSH packet.
type watchConn struct {
	net.Conn
	br   *bufio.Reader
	last atomic.Int64 // unix nanoseconds
}

func (w *watchConn) Read(p []byte) (int, error) {
	n, err := w.br.Read(p)
	if n > 0 {
		w.last.Store(time.Now().UnixNano())
	}
	return n, err
}

func (w *watchConn) idle() time.Duration { return time.Since(time.Unix(0, w.last.Load())) }

// watch sends keepalive@openssh.com requests while nothing arrives and
// kills the connection when nothing, not even a keepalive reply, arrived
// for idle: a link that went silent (a NAT timeout, a dropped radio link:
// no FIN, no RST) would otherwise hang every read until TCP gives up,
// which takes a quarter of an hour or more.
func (c *connection) watch(idle time.Duration) {
	every := max(idle/4, 10*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	var asking atomic.Bool
	for {
		select {
		case <-c.dead:
			return
		case <-t.C:
		}
		quiet := c.tcp.idle()
		if quiet >= idle {
			c.kill()
			return
		}
		if quiet >= every && !asking.Swap(true) {
			go func() {
				// OpenSSH answers with a failure, which is a reply all the
				// same; the reply is what counts.
				c.ssh.SendRequest("keepalive@openssh.com", true, nil)
				asking.Store(false)
			}()
		}
	}
}

var _ transport.Backend = (*Backend)(nil)
var _ transport.SpaceReporter = (*Backend)(nil)

// Dial connects to the server of loc and returns a backend rooted at the
// directory loc.Path ("~/" and "~/x" are relative to the login directory).
// The directory must exist.
func Dial(ctx context.Context, loc transport.Location, opts Options) (*Backend, error) {
	if loc.Scheme != transport.SFTP {
		return nil, fmt.Errorf("sftp: location %s is not sftp://", loc)
	}
	hc, err := readHostConfig(opts.SSHConfig, loc.Host, firstNonEmpty(opts.User, loc.User), localEnv{user: opts.LocalUser, home: opts.Home})
	if err != nil {
		return nil, transport.Permanent(err)
	}
	host := loc.Host
	if hc.HostName != "" {
		host = hc.HostName
	}
	port := 22
	switch {
	case loc.Port != 0:
		port = loc.Port
	case hc.Port != 0:
		port = hc.Port
	}
	user := firstNonEmpty(opts.User, loc.User, hc.User, opts.LocalUser)
	if user == "" {
		return nil, transport.Permanent(errors.New("sftp: no user name: give one in the URL, as in sftp://USER@host/PATH"))
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	b := &Backend{addr: addr, user: user, opts: opts, closeAgent: func() {}}
	l := loc
	l.User = user
	b.loc = strings.TrimSuffix(l.String(), "/")

	hostKey := ssh.InsecureIgnoreHostKey()
	var algos []string
	if !opts.InsecureIgnoreHostKey {
		files := hc.KnownHosts
		if opts.KnownHosts != "" {
			files = []string{opts.KnownHosts}
		} else if len(files) == 0 {
			files = []string{"/etc/ssh/ssh_known_hosts"}
			if opts.Home != "" {
				files = []string{expandTilde("~/.ssh/known_hosts", opts.Home), "/etc/ssh/ssh_known_hosts"}
			}
		}
		if hostKey, algos, err = hostKeyCheck(files, addr); err != nil {
			return nil, err
		}
	}
	auth, closeAgent, err := authMethods(opts, hc, user, addr)
	if err != nil {
		return nil, fmt.Errorf("sftp %s: %w", b.loc, err)
	}
	b.closeAgent = closeAgent
	ciphers := opts.Ciphers
	if ciphers == nil {
		ciphers = DefaultCiphers
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	b.config = &ssh.ClientConfig{
		User: user, Auth: auth, HostKeyCallback: hostKey, HostKeyAlgorithms: algos,
		Timeout: timeout, Config: ssh.Config{Ciphers: ciphers},
	}
	c, err := b.connect(ctx)
	if err != nil {
		b.Close()
		return nil, err
	}
	root := loc.Path
	if root == "~" || strings.HasPrefix(root, "~/") {
		home, err := c.sftp.Getwd()
		if err != nil {
			b.Close()
			return nil, fmt.Errorf("sftp %s: home directory: %w", b.loc, err)
		}
		root = path.Join(home, strings.TrimPrefix(root, "~"))
	}
	b.root = path.Clean(root)
	fi, err := c.sftp.Stat(b.root)
	if err != nil {
		b.Close()
		return nil, transport.Permanent(fmt.Errorf("sftp %s: directory %s: %w", b.loc, b.root, err))
	}
	if !fi.IsDir() {
		b.Close()
		return nil, transport.Permanent(fmt.Errorf("sftp %s: %s is not a directory", b.loc, b.root))
	}
	return b, nil
}

func readHostConfig(file, host, user string, env localEnv) (hostConfig, error) {
	if file == "none" || (file == "" && env.home == "") {
		return hostConfig{}, nil
	}
	if file == "" {
		file = expandTilde("~/.ssh/config", env.home)
	}
	f, err := os.Open(file)
	if errors.Is(err, fs.ErrNotExist) {
		return hostConfig{}, nil
	}
	if err != nil {
		return hostConfig{}, err
	}
	defer f.Close()
	return parseSSHConfig(f, host, user, env, file)
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// connect returns the live connection, dialling a new one if there is
// none or the last one died.
func (b *Backend) connect(ctx context.Context) (*connection, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, transport.ErrClosed
	}
	if c := b.conn; c != nil {
		select {
		case <-c.dead:
		default:
			if !c.broken.Load() {
				return c, nil
			}
		}
		c.sftp.Close()
		c.ssh.Close()
		b.conn = nil
	}
	dial := b.opts.Dial
	if dial == nil {
		d := &net.Dialer{Timeout: b.config.Timeout, KeepAlive: 15 * time.Second}
		dial = d.DialContext
	}
	raw, err := dial(ctx, "tcp", b.addr)
	if err != nil {
		return nil, fmt.Errorf("sftp %s: %w", b.loc, err)
	}
	tcp := &watchConn{Conn: raw}
	tcp.br = bufio.NewReaderSize(raw, 256<<10)
	tcp.last.Store(time.Now().UnixNano())
	// The handshake has its own timeout but must also end with ctx.
	stop := context.AfterFunc(ctx, func() { tcp.Close() })
	tcp.SetDeadline(time.Now().Add(b.config.Timeout))
	sc, chans, reqs, err := ssh.NewClientConn(tcp, b.addr, b.config)
	stopped := stop()
	if err != nil {
		tcp.Close()
		if !stopped {
			return nil, ctx.Err()
		}
		if strings.Contains(err.Error(), "unable to authenticate") {
			err = transport.Permanent(fmt.Errorf("%w (user %s; check the key is in the server's authorized_keys, or the password)", err, b.user))
		}
		return nil, fmt.Errorf("sftp %s: %w", b.loc, err)
	}
	tcp.SetDeadline(time.Time{})
	client := ssh.NewClient(sc, chans, reqs)
	conc := b.opts.Concurrency
	if conc <= 0 {
		conc = defaultConcurrency
	}
	start := func(packet int) (*sftp.Client, error) {
		return sftp.NewClient(client,
			sftp.MaxPacketUnchecked(packet),
			sftp.UseConcurrentWrites(true),
			sftp.UseConcurrentReads(true),
			sftp.MaxConcurrentRequestsPerFile(conc),
		)
	}
	// The packet size is fixed when the session starts, before the server's
	// extensions are known: start with the banner's guess and start again in the
	// rare case the sftp-server says otherwise.
	packet := packetSize(string(sc.ServerVersion()), nil, b.opts.MaxPacket)
	sc2, err := start(packet)
	if err == nil {
		_, limits := sc2.HasExtension("limits@openssh.com")
		if p := packetSize(string(sc.ServerVersion()), &limits, b.opts.MaxPacket); p != packet {
			sc2.Close()
			packet = p
			sc2, err = start(packet)
		}
	}
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("sftp %s: start sftp subsystem: %w", b.loc, err)
	}
	c := &connection{ssh: client, sftp: sc2, tcp: tcp, dead: make(chan struct{}),
		packet: packet, readDepth: conc, writeDepth: max(1, min(conc, maxWriteBehind/packet))}
	go func() {
		client.Wait()
		close(c.dead)
	}()
	idle := b.opts.IdleTimeout
	if idle <= 0 {
		idle = transport.DefaultIdleTimeout
	}
	go c.watch(idle)
	b.conn = c
	return c, nil
}

// dropConnection closes the live connection; the next operation dials a
// new one.
func (b *Backend) dropConnection() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conn != nil {
		b.conn.sftp.Close()
		b.conn.ssh.Close()
		b.conn = nil
	}
}

// Location implements transport.Backend.
func (b *Backend) Location() string { return b.loc }

// Root is the absolute directory on the server.
func (b *Backend) Root() string { return b.root }

func (b *Backend) path(name string) string { return path.Join(b.root, name) }

func (b *Backend) wrap(op, name string, err error) error {
	if err == nil {
		return nil
	}
	var se *sftp.StatusError
	if errors.As(err, &se) && se.FxCode() == sftp.ErrSSHFxNoSuchFile {
		err = fmt.Errorf("%w (%s)", fs.ErrNotExist, se.Error())
	}
	return fmt.Errorf("sftp %s: %s %s: %w", b.loc, op, name, err)
}

// Create implements transport.Backend.
func (b *Backend) Create(ctx context.Context, name string) (transport.Upload, error) {
	if err := transport.CheckName(name); err != nil {
		return nil, err
	}
	c, err := b.connect(ctx)
	if err != nil {
		return nil, err
	}
	tmp := b.path(transport.TempName(name))
	stop := c.guard(ctx)
	f, err := c.sftp.OpenFile(tmp, os.O_WRONLY|os.O_CREATE)
	if err != nil {
		stop()
		c.failed(err)
		return nil, b.wrap("create", name, err)
	}
	fi, err := f.Stat()
	if err != nil {
		stop()
		c.failed(err)
		f.Close()
		return nil, b.wrap("create", name, err)
	}
	off := fi.Size()
	if safe, ok := b.takeCut(tmp); ok && safe < off {
		// The last upload of this file in this process failed with writes in flight:
		// what lies after its acknowledged prefix may have holes.
		if err := f.Truncate(safe); err != nil {
			b.noteCut(tmp, safe)
			stop()
			c.failed(err)
			f.Close()
			return nil, b.wrap("create", name, err)
		}
		off = safe
	}
	u := &upload{ctx: ctx, b: b, c: c, f: f, stop: stop, name: name, tmp: tmp, statePath: b.path(transport.StateName(name)), off: off}
	if u.off > 0 {
		if sf, err := c.sftp.Open(u.statePath); err == nil {
			u.state, _ = io.ReadAll(io.LimitReader(sf, 64<<20))
			sf.Close()
		}
	}
	return u, nil
}

type upload struct {
	ctx           context.Context
	b             *Backend
	c             *connection
	f             *sftp.File
	stop          func() bool // ends the guard that kills c with ctx
	name, tmp     string
	statePath     string
	off           int64 // bytes accepted by Write, in flight or stored
	state         []byte
	written, done bool
	wb            *writeBehind // the requests in flight; nil before the first Write
	fl            *flusher     // flushes the written bytes to the server's disk meanwhile
	flushedAt     int64        // u.off at the last flush asked for
}

// Write hands p to the requests in flight and returns while the server may still be
// writing it: a failure shows at a later Write, Checkpoint or Commit, and the retry
// layer resends from the prefix that was stored (see Create).
func (u *upload) Write(p []byte) (int, error) {
	if u.done {
		return 0, transport.ErrClosed
	}
	if err := u.ctx.Err(); err != nil {
		return 0, err
	}
	u.written = true
	if u.wb == nil {
		u.wb = newWriteBehind(u.f, u.off, u.c.packet, u.c.writeDepth)
	}
	if err := u.wb.write(p); err != nil {
		return 0, u.writeErr(err)
	}
	u.off += int64(len(p))
	if u.off-u.flushedAt >= remoteFlushEvery {
		if u.fl == nil && u.flushedAt == 0 {
			u.fl = startFlusher(u.c, u.tmp)
		}
		u.flushedAt = u.off
		u.fl.flush()
	}
	return len(p), nil
}

// flush waits for the writes in flight. After a failure it notes where the gapless
// prefix ends, so the next Create of the file cuts off what may have holes.
func (u *upload) flush() error {
	if u.wb == nil {
		return nil
	}
	err := u.wb.flush()
	if err != nil {
		u.b.noteCut(u.tmp, u.wb.safe())
	}
	return err
}

// writeErr describes a failed write request.
func (u *upload) writeErr(err error) error {
	u.c.failed(err)
	var se *sftp.StatusError
	if errors.As(err, &se) && se.FxCode() == sftp.ErrSSHFxFailure {
		// OpenSSH reports a full disk as a bare "Failure": say why.
		size, _ := u.wb.failure()
		if free, ferr := u.b.FreeSpace(u.ctx, path.Dir(u.name)); ferr == nil && free < int64(size) {
			err = fmt.Errorf("%w: disk full on the server (%s free)", err, progress.Size(free))
		}
	}
	return u.b.wrap("write", u.name, err)
}

func (u *upload) Offset() int64 { return u.off }
func (u *upload) State() []byte { return u.state }

func (u *upload) Truncate(ctx context.Context, size int64) error {
	if err := transport.CheckTruncate(u.done, u.written, size, u.off); err != nil {
		return err
	}
	if err := u.f.Truncate(size); err != nil {
		u.c.failed(err)
		return u.b.wrap("truncate", u.name, err)
	}
	u.off = size
	return nil
}

// Checkpoint waits until the server acknowledged every write request, so the data
// is on the server, and stores the state.
func (u *upload) Checkpoint(ctx context.Context, state []byte) error {
	if u.done {
		return transport.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := u.flush(); err != nil {
		return u.writeErr(err)
	}
	// Written beside and renamed over the old state where the server can (OpenSSH's
	// posix-rename), so a kill between truncating and writing cannot lose the resume
	// point that was already saved.
	_, atomic := u.c.sftp.HasExtension("posix-rename@openssh.com")
	dst := u.statePath
	if atomic {
		dst = u.statePath + ".new"
	}
	sf, err := u.c.sftp.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		u.c.failed(err)
		return u.b.wrap("save resume state", u.name, err)
	}
	_, err = sf.Write(state)
	if e := sf.Close(); err == nil {
		err = e
	}
	if err == nil && atomic {
		err = u.c.sftp.PosixRename(dst, u.statePath)
	}
	u.c.failed(err)
	return u.b.wrap("save resume state", u.name, err)
}

func (u *upload) Commit(ctx context.Context) error {
	if u.done {
		return transport.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := u.flush(); err != nil {
		u.fl.stop(false)
		return u.writeErr(err)
	}
	u.fl.stop(true)
	if v, ok := u.c.sftp.HasExtension("fsync@openssh.com"); ok && v == "1" {
		if err := u.f.Sync(); err != nil {
			u.c.failed(err)
			return u.b.wrap("sync", u.name, err)
		}
	}
	u.done = true
	if err := u.f.Close(); err != nil {
		u.stop()
		u.c.failed(err)
		return u.b.wrap("close", u.name, err)
	}
	final := u.b.path(u.name)
	var err error
	if _, ok := u.c.sftp.HasExtension("posix-rename@openssh.com"); ok {
		err = u.c.sftp.PosixRename(u.tmp, final)
	} else {
		// Without posix-rename, SSH_FXP_RENAME refuses an existing
		// target: there is a short window without the old file.
		_ = u.c.sftp.Remove(final)
		err = u.c.sftp.Rename(u.tmp, final)
	}
	if err != nil {
		u.stop()
		u.c.failed(err)
		return u.b.wrap("publish", u.name, err)
	}
	_ = u.c.sftp.Remove(u.statePath)
	_ = u.c.sftp.Remove(u.statePath + ".new") // left by a kill inside Checkpoint
	u.stop()
	return nil
}

func (u *upload) Abort(context.Context) error {
	if u.done {
		return transport.ErrClosed
	}
	u.done = true
	u.fl.stop(false)
	u.flush()
	u.stop()
	u.f.Close()
	return nil
}

func (u *upload) Discard(ctx context.Context) error {
	if !u.done {
		u.done = true
		u.fl.stop(false)
		u.flush()
		u.stop()
		u.f.Close()
	}
	c, err := u.b.connect(ctx)
	if err != nil {
		return err
	}
	err = c.sftp.Remove(u.tmp)
	if e := c.sftp.Remove(u.statePath); e != nil && !errors.Is(e, fs.ErrNotExist) {
		err = errors.Join(err, e)
	}
	_ = c.sftp.Remove(u.statePath + ".new") // left by a kill inside Checkpoint
	return u.b.wrap("discard", u.name, err)
}

// Open implements transport.Backend.
func (b *Backend) Open(ctx context.Context, name string, offset int64) (io.ReadCloser, error) {
	if err := transport.CheckName(name); err != nil {
		return nil, err
	}
	c, err := b.connect(ctx)
	if err != nil {
		return nil, err
	}
	stop := c.guard(ctx)
	f, err := c.sftp.Open(b.path(name))
	if err != nil {
		stop()
		c.failed(err)
		return nil, b.wrap("open", name, err)
	}
	ra := newReadAhead(f, offset, c.packet, c.readDepth)
	return transport.ContextReader(ctx, &reader{f: f, ra: ra, b: b, c: c, stop: stop, name: name}), nil
}

type reader struct {
	f    *sftp.File
	ra   *readAhead
	b    *Backend
	c    *connection
	stop func() bool // ends the guard that kills c with ctx
	name string
}

func (r *reader) Read(p []byte) (int, error) {
	n, err := r.ra.Read(p)
	if err == io.EOF {
		return n, err
	}
	r.c.failed(err)
	return n, r.b.wrap("read", r.name, err)
}

// WriteTo hands the read-ahead buffers to w without a copy.
func (r *reader) WriteTo(w io.Writer) (int64, error) {
	n, err := r.ra.WriteTo(w)
	if errors.Is(err, sftp.ErrSSHFxConnectionLost) {
		r.c.kill() // not a failure of w, which may be a local disk
	}
	return n, r.b.wrap("read", r.name, err)
}

func (r *reader) Close() error {
	// The reads still in flight are waited for while the guard can still end them
	// with ctx; their answers go nowhere.
	r.ra.Close()
	r.stop()
	return r.f.Close()
}

// Stat implements transport.Backend.
func (b *Backend) Stat(ctx context.Context, name string) (transport.FileInfo, error) {
	if err := transport.CheckName(name); err != nil {
		return transport.FileInfo{}, err
	}
	c, err := b.connect(ctx)
	if err != nil {
		return transport.FileInfo{}, err
	}
	defer c.guard(ctx)()
	fi, err := c.sftp.Stat(b.path(name))
	if err != nil {
		c.failed(err)
		return transport.FileInfo{}, b.wrap("stat", name, err)
	}
	return info(fi), nil
}

func info(fi fs.FileInfo) transport.FileInfo {
	return transport.FileInfo{Name: fi.Name(), Size: fi.Size(), ModTime: fi.ModTime(), IsDir: fi.IsDir()}
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
	c, err := b.connect(ctx)
	if err != nil {
		return err
	}
	entries, err := c.sftp.ReadDirContext(ctx, b.path(dir))
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return b.wrap("list", dir, err)
	}
	for _, e := range entries {
		if transport.IsTempName(e.Name()) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		// Names come from the server: one that is not a plain element never becomes
		// a path, and links and special files are not bundles.
		if err := transport.CheckEntryName(e.Name()); err != nil {
			b.notice("skipping an entry of %s: %v", b.Location(), err)
			continue
		}
		if !e.Mode().IsRegular() && !e.IsDir() {
			b.notice("skipping %q in %s: not a regular file (%s)", e.Name(), b.Location(), e.Mode().Type())
			continue
		}
		if err := fn(info(e)); err != nil {
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
	c, err := b.connect(ctx)
	if err != nil {
		return err
	}
	defer c.guard(ctx)()
	return b.wrap("remove", name, c.sftp.Remove(b.path(name)))
}

// Rename implements transport.Backend. The check for an existing target
// and the rename are two requests: a concurrent writer can slip between.
func (b *Backend) Rename(ctx context.Context, oldname, newname string) error {
	if err := transport.CheckName(oldname); err != nil {
		return err
	}
	if err := transport.CheckName(newname); err != nil {
		return err
	}
	c, err := b.connect(ctx)
	if err != nil {
		return err
	}
	defer c.guard(ctx)()
	if _, err := c.sftp.Lstat(b.path(oldname)); err != nil {
		return b.wrap("rename", oldname, err)
	}
	if _, err := c.sftp.Lstat(b.path(newname)); err == nil {
		return b.wrap("rename", oldname, fmt.Errorf("%s: %w", newname, fs.ErrExist))
	}
	if d := path.Dir(newname); d != "." {
		if err := c.sftp.MkdirAll(b.path(d)); err != nil {
			return b.wrap("mkdir", d, err)
		}
	}
	return b.wrap("rename", oldname, c.sftp.Rename(b.path(oldname), b.path(newname)))
}

// FreeSpace implements transport.SpaceReporter where the server has the
// statvfs@openssh.com extension.
func (b *Backend) FreeSpace(ctx context.Context, dir string) (int64, error) {
	c, err := b.connect(ctx)
	if err != nil {
		return 0, err
	}
	defer c.guard(ctx)()
	if _, ok := c.sftp.HasExtension("statvfs@openssh.com"); !ok {
		return 0, errors.ErrUnsupported
	}
	if dir == "." {
		dir = ""
	}
	st, err := c.sftp.StatVFS(b.path(dir))
	if err != nil {
		return 0, err
	}
	return int64(st.Bavail * st.Frsize), nil
}

// IsNotExist implements transport.Backend.
func (b *Backend) IsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// IsPermanent implements transport.Backend. Status codes from the server
// are final (SSH_FX_FAILURE covers a full disk); a broken connection,
// a timeout or a refused dial are worth another try.
func (b *Backend) IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	if transport.IsPermanent(err) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrExist) ||
		errors.Is(err, fs.ErrPermission) {
		return true
	}
	var se *sftp.StatusError
	if errors.As(err, &se) {
		switch se.FxCode() {
		case sftp.ErrSSHFxConnectionLost, sftp.ErrSSHFxNoConnection:
			return false
		}
		return true
	}
	return false
}

// Close implements transport.Backend.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	if b.conn != nil {
		b.conn.sftp.Close()
		b.conn.ssh.Close()
		b.conn = nil
	}
	b.closeAgent()
	return nil
}
