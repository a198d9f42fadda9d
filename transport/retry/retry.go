package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/imgx/imgx/progress"
	"github.com/imgx/imgx/transport"
)

// Options tunes the retries. The zero value is ready to use.
type Options struct {
	// MaxRetries is the number of retries after the first attempt; 0 means
	// 5, negative means none.
	MaxRetries int
	// InitialDelay doubles after each failed retry up to MaxDelay; zero
	// values mean 500ms and 30s.
	InitialDelay, MaxDelay time.Duration
	// ReplayBuffer is how many of the most recently uploaded bytes are kept
	// to resend when the server lost data that was in flight (FTP); 0
	// means 16 MiB.
	ReplayBuffer int
	// Notify, if set, hears of each retry before the wait (the CLI prints
	// "retrying in 2s: ...").
	Notify func(op string, err error, attempt int, delay time.Duration)
}

// Backend retries the operations of the backend it wraps.
type Backend struct {
	transport.Backend
	opts Options
	// sleep waits or returns ctx's error; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
	// permanent replaces Backend.IsPermanent in Do, which has no Backend.
	permanent func(error) bool
}

var _ transport.Backend = (*Backend)(nil)
var _ transport.Unwrapper = (*Backend)(nil)

// New wraps b.
func New(b transport.Backend, opts Options) *Backend {
	return &Backend{Backend: b, opts: opts.withDefaults(), sleep: sleep}
}

func (opts Options) withDefaults() Options {
	if opts.MaxRetries == 0 {
		opts.MaxRetries = 5
	}
	if opts.InitialDelay <= 0 {
		opts.InitialDelay = 500 * time.Millisecond
	}
	if opts.MaxDelay <= 0 {
		opts.MaxDelay = 30 * time.Second
	}
	if opts.ReplayBuffer <= 0 {
		opts.ReplayBuffer = 16 << 20
	}
	return opts
}

// Do runs fn until it succeeds, fails with an error permanent reports
// true for, ctx ends, or opts.MaxRetries retries were spent, waiting the
// same backoff as the Backend between tries. It is the one retry policy
// for work outside a transport.Backend: the first connection, registry
// requests. fn learns the attempt number (0 first); progress (fn
// returning true for it) resets the count, so only failures in a row
// without progress use up the retries.
func Do(ctx context.Context, opts Options, op string, permanent func(error) bool, fn func(attempt int) (progress bool, err error)) error {
	p := &Backend{opts: opts.withDefaults(), sleep: sleep, permanent: permanent}
	return p.loop(ctx, op, fn)
}

// loop is the one retry loop (Do and every Backend operation): run fn, and after a
// failure wait the backoff (wait) and run it again. Progress resets the count of
// failures in a row.
func (b *Backend) loop(ctx context.Context, op string, fn func(attempt int) (progress bool, err error)) error {
	failures := 0
	for attempt := 0; ; attempt++ {
		progress, err := fn(attempt)
		if err == nil {
			return nil
		}
		if progress {
			failures = 0
		}
		failures++
		if werr := b.wait(ctx, op, failures, err); werr != nil {
			return werr
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Unwrap returns the wrapped backend.
func (b *Backend) Unwrap() transport.Backend { return b.Backend }

// shouldStop reports whether err ends the retries.
func (b *Backend) shouldStop(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	if b.permanent != nil {
		return b.permanent(err)
	}
	return b.Backend.IsPermanent(err)
}

// wait sleeps before retry number attempt (from 1). It returns an error
// when no retry is left or ctx ends.
func (b *Backend) wait(ctx context.Context, op string, attempt int, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		// The failure came from ctx ending (the backend closes its
		// connections then): say so, so callers see a cancellation.
		return fmt.Errorf("%w: %w", cerr, err)
	}
	if b.shouldStop(ctx, err) {
		return err
	}
	if attempt > b.opts.MaxRetries {
		if b.opts.MaxRetries <= 0 {
			return err
		}
		return fmt.Errorf("%w (gave up after %d retries)", err, b.opts.MaxRetries)
	}
	d := b.opts.InitialDelay << (attempt - 1)
	if d > b.opts.MaxDelay || d <= 0 {
		d = b.opts.MaxDelay
	}
	d = d*4/5 + time.Duration(rand.Int64N(int64(d)*2/5+1)) // ±20% so clients spread out
	if b.opts.Notify != nil {
		b.opts.Notify(op, err, attempt, d)
	}
	if serr := b.sleep(ctx, d); serr != nil {
		return fmt.Errorf("%w: %w", serr, err)
	}
	return nil
}

// do runs fn until it succeeds, fails permanently or retries run out.
// fn learns the attempt number (0 first).
func (b *Backend) do(ctx context.Context, op string, fn func(attempt int) error) error {
	return b.loop(ctx, op, func(attempt int) (bool, error) { return false, fn(attempt) })
}

// Stat implements transport.Backend.
func (b *Backend) Stat(ctx context.Context, name string) (fi transport.FileInfo, err error) {
	err = b.do(ctx, "stat "+name, func(int) (e error) {
		fi, e = b.Backend.Stat(ctx, name)
		return e
	})
	return fi, err
}

// Remove implements transport.Backend. A retry that finds the file gone
// counts as success: the lost reply was to a removal that happened.
func (b *Backend) Remove(ctx context.Context, name string) error {
	return b.do(ctx, "remove "+name, func(attempt int) error {
		err := b.Backend.Remove(ctx, name)
		if attempt > 0 && b.Backend.IsNotExist(err) {
			return nil
		}
		return err
	})
}

// Rename implements transport.Backend. A retry that finds oldname gone and
// newname present counts as success.
func (b *Backend) Rename(ctx context.Context, oldname, newname string) error {
	return b.do(ctx, "rename "+oldname, func(attempt int) error {
		err := b.Backend.Rename(ctx, oldname, newname)
		if attempt > 0 && b.Backend.IsNotExist(err) {
			if _, serr := b.Backend.Stat(ctx, newname); serr == nil {
				return nil
			}
		}
		return err
	})
}

// List implements transport.Backend. A retried listing does not call fn
// again for names it already delivered.
func (b *Backend) List(ctx context.Context, dir string, fn func(transport.FileInfo) error) error {
	seen := map[string]bool{}
	var fnErr error
	err := b.do(ctx, "list "+dir, func(int) error {
		return b.Backend.List(ctx, dir, func(fi transport.FileInfo) error {
			if seen[fi.Name] {
				return nil
			}
			seen[fi.Name] = true
			if err := fn(fi); err != nil {
				fnErr = err
				return err
			}
			return nil
		})
	})
	if fnErr != nil {
		return fnErr
	}
	return err
}

// Open implements transport.Backend. The reader re-opens at the byte it
// reached when a read fails transiently.
func (b *Backend) Open(ctx context.Context, name string, offset int64) (io.ReadCloser, error) {
	var rc io.ReadCloser
	err := b.do(ctx, "open "+name, func(int) (e error) {
		rc, e = b.Backend.Open(ctx, name, offset)
		return e
	})
	if err != nil {
		return nil, err
	}
	return &reader{ctx: ctx, b: b, name: name, off: offset, rc: rc, open: func(off int64) (io.ReadCloser, error) {
		return b.Backend.Open(ctx, name, off)
	}}, nil
}

// Reader is the resuming reader of Backend.Open for any source: open(off)
// returns a reader from byte off on (an HTTP range request, say). It is
// opened at once, with retries; a transient failure later (permanent
// says which are not) re-opens at the byte reached, with the same policy
// and backoff as the Backend. name is for messages.
func Reader(ctx context.Context, opts Options, name string, permanent func(error) bool, open func(ctx context.Context, off int64) (io.ReadCloser, error)) (io.ReadCloser, error) {
	b := &Backend{opts: opts.withDefaults(), sleep: sleep, permanent: permanent}
	var rc io.ReadCloser
	err := b.do(ctx, "open "+name, func(int) (e error) {
		rc, e = open(ctx, 0)
		return e
	})
	if err != nil {
		return nil, err
	}
	return &reader{ctx: ctx, b: b, name: name, rc: rc, open: func(off int64) (io.ReadCloser, error) {
		return open(ctx, off)
	}}, nil
}

type reader struct {
	ctx  context.Context
	b    *Backend
	name string
	off  int64
	rc   io.ReadCloser
	open func(off int64) (io.ReadCloser, error)
	// broken holds a transient error that came with data: the data went
	// to the caller, the reader is re-opened at the next call.
	broken error
	// failures counts failures since the last byte read; progress resets
	// it, so the backoff and the retry budget are per stall, not per file.
	failures int
	// err is the error that ended the reader; every later call returns it,
	// never an io.EOF that would pass a truncated file for a whole one.
	err error
}

// fail records a failed read and decides whether to go on: it waits the
// backoff and re-opens at r.off, or returns the error that ends the read,
// which sticks.
func (r *reader) fail(err error) error {
	for {
		r.failures++
		if werr := r.b.wait(r.ctx, fmt.Sprintf("read %s at byte %d", r.name, r.off), r.failures, err); werr != nil {
			r.err = werr
			return werr
		}
		r.rc.Close()
		rc, oerr := r.open(r.off)
		if oerr == nil {
			r.rc = rc
			return nil
		}
		r.rc = io.NopCloser(eofReader{})
		err = oerr
	}
}

// eofReader stands in for a reader that could not be re-opened; Close is
// all that is ever called on it.
type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// resumeBroken returns the error that ended the reader, or counts the failure that came
// with the data an earlier call handed over (re-opening on the next read), or gives up.
func (r *reader) resumeBroken() error {
	if r.err != nil {
		return r.err
	}
	if r.broken != nil {
		err := r.broken
		r.broken = nil
		return r.fail(err)
	}
	return nil
}

// Read resumes after a transient failure. A read that returns data and a
// transient error (pkg/sftp does, when a later request in flight fails)
// hands the data over without the error and re-opens on the next call.
func (r *reader) Read(p []byte) (int, error) {
	if err := r.resumeBroken(); err != nil {
		return 0, err
	}
	for {
		n, err := r.rc.Read(p)
		r.off += int64(n)
		if n > 0 {
			r.failures = 0
		}
		if err == nil || err == io.EOF {
			return n, err
		}
		if n > 0 {
			if r.b.shouldStop(r.ctx, err) {
				r.err = err
				return n, err
			}
			r.broken = err
			return n, nil
		}
		if ferr := r.fail(err); ferr != nil {
			return 0, ferr
		}
	}
}

// WriteTo keeps the wrapped reader's fast path (pkg/sftp pipelines reads in
// WriteTo) and still re-opens after a transient failure.
func (r *reader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	if err := r.resumeBroken(); err != nil {
		return 0, err
	}
	for {
		cw := &progress.CountWriter{W: w}
		var err error
		if wt, ok := r.rc.(io.WriterTo); ok {
			_, err = wt.WriteTo(cw)
		} else {
			_, err = io.CopyBuffer(cw, struct{ io.Reader }{r.rc}, make([]byte, 1<<20))
		}
		r.off += cw.N
		total += cw.N
		if cw.N > 0 {
			r.failures = 0
		}
		if err == nil || cw.Err != nil {
			return total, err // done, or the destination failed
		}
		if ferr := r.fail(err); ferr != nil {
			return total, ferr
		}
	}
}

func (r *reader) Close() error { return r.rc.Close() }

// Create implements transport.Backend.
func (b *Backend) Create(ctx context.Context, name string) (transport.Upload, error) {
	var u transport.Upload
	err := b.do(ctx, "create "+name, func(int) (e error) {
		u, e = b.Backend.Create(ctx, name)
		return e
	})
	if err != nil {
		return nil, err
	}
	return &upload{ctx: ctx, b: b, name: name, u: u, pos: u.Offset(), state: u.State(),
		replay: replay{max: b.opts.ReplayBuffer, start: u.Offset()}}, nil
}

// upload reconnects and continues after a transient failure.
type upload struct {
	ctx     context.Context
	b       *Backend
	name    string
	u       transport.Upload
	pos     int64 // bytes the caller has written, as far as it knows
	state   []byte
	written bool
	replay  replay
	// failures since the last write that got through
	failures int
}

// replay keeps the last max bytes written, for resending: a ring, so each byte is
// copied in once (the slice it replaced moved the kept bytes down every time it grew
// past twice max, and held up to twice max).
type replay struct {
	max   int
	ring  []byte // grows in order from ring[0] until it holds max bytes, then wraps
	n     int    // bytes kept, at most max
	head  int    // where the next byte goes, once the ring is full
	start int64  // offset of the oldest byte kept
}

func (r *replay) add(p []byte) {
	switch {
	case r.max <= 0:
		r.start += int64(len(p))
	case len(p) >= r.max:
		if len(r.ring) < r.max {
			r.ring = make([]byte, r.max)
		}
		copy(r.ring, p[len(p)-r.max:])
		r.start += int64(r.n + len(p) - r.max)
		r.n, r.head = r.max, 0
	case len(r.ring) < r.max && r.n+len(p) <= r.max:
		// Still growing: the bytes are in order from ring[0].
		r.ring = append(r.ring[:r.n], p...)
		r.n += len(p)
		r.head = r.n % r.max
	case len(r.ring) < r.max:
		full := make([]byte, r.max)
		keep := r.max - len(p)
		copy(full, r.ring[r.n-keep:r.n])
		copy(full[keep:], p)
		r.start += int64(r.n - keep)
		r.ring, r.n, r.head = full, r.max, 0
	default:
		k := copy(r.ring[r.head:], p)
		copy(r.ring, p[k:])
		r.head = (r.head + len(p)) % r.max
		r.start += int64(max(0, r.n+len(p)-r.max))
		r.n = min(r.n+len(p), r.max)
	}
}

// since returns the bytes from off to the end, if still kept.
func (r *replay) since(off int64) ([]byte, bool) {
	if off < r.start || off > r.start+int64(r.n) {
		return nil, false
	}
	skip := int(off - r.start)
	out := make([]byte, r.n-skip)
	if len(out) == 0 {
		return out, true
	}
	l := len(r.ring)
	begin := ((r.head-r.n+skip)%l + l) % l
	if len(r.ring) < r.max {
		begin = skip // growing: in order from ring[0]
	}
	k := copy(out, r.ring[begin:])
	copy(out[k:], r.ring)
	return out, true
}

// recover reconnects and brings the server's temporary file to exactly
// u.pos bytes.
func (u *upload) recover(op string, cause error) error {
	err := cause
	for {
		// Failures count until a write gets through, so a link that
		// always breaks before the next write completes still ends.
		u.failures++
		if werr := u.b.wait(u.ctx, op+" "+u.name, u.failures, err); werr != nil {
			return werr
		}
		u.u.Abort(context.WithoutCancel(u.ctx))
		var nu transport.Upload
		if nu, err = u.b.Backend.Create(u.ctx, u.name); err != nil {
			continue
		}
		u.u = nu
		have := nu.Offset()
		switch {
		case have >= u.pos:
			err = nu.Truncate(u.ctx, u.pos)
		default:
			missing, ok := u.replay.since(have)
			if !ok || have+int64(len(missing)) != u.pos {
				return transport.Permanent(fmt.Errorf("%s %s: server kept %d of %d bytes, more than the replay buffer can resend: %w",
					op, u.name, have, u.pos, cause))
			}
			if err = nu.Truncate(u.ctx, have); err == nil {
				_, err = nu.Write(missing)
			}
		}
		if err == nil {
			return nil
		}
	}
}

func (u *upload) Write(p []byte) (int, error) {
	u.written = true
	n, err := u.u.Write(p)
	if err == nil {
		u.pos += int64(n)
		u.replay.add(p)
		u.failures = 0
		return n, nil
	}
	for {
		if rerr := u.recover("write", err); rerr != nil {
			return 0, rerr
		}
		if _, err = u.u.Write(p); err == nil {
			u.pos += int64(len(p))
			u.replay.add(p)
			u.failures = 0
			return len(p), nil
		}
	}
}

func (u *upload) Offset() int64 { return u.pos }
func (u *upload) State() []byte { return u.state }

func (u *upload) Truncate(ctx context.Context, size int64) error {
	if err := u.u.Truncate(ctx, size); err != nil {
		return err
	}
	u.pos = size
	u.replay = replay{max: u.replay.max, start: size}
	return nil
}

func (u *upload) Checkpoint(ctx context.Context, state []byte) error {
	err := u.u.Checkpoint(ctx, state)
	for err != nil {
		if rerr := u.recover("checkpoint", err); rerr != nil {
			return rerr
		}
		err = u.u.Checkpoint(ctx, state)
	}
	return nil
}

func (u *upload) Commit(ctx context.Context) error {
	err := u.u.Commit(ctx)
	for err != nil {
		if u.b.shouldStop(ctx, err) {
			return err
		}
		// The rename may have happened with its reply lost.
		if fi, serr := u.b.Backend.Stat(ctx, u.name); serr == nil && fi.Size == u.pos {
			if nu, cerr := u.b.Backend.Create(ctx, u.name); cerr == nil {
				if nu.Offset() == 0 {
					nu.Discard(ctx)
					return nil
				}
				nu.Abort(ctx)
			}
		}
		if rerr := u.recover("commit", err); rerr != nil {
			return rerr
		}
		err = u.u.Commit(ctx)
	}
	return nil
}

func (u *upload) Abort(ctx context.Context) error   { return u.u.Abort(ctx) }
func (u *upload) Discard(ctx context.Context) error { return u.u.Discard(ctx) }
