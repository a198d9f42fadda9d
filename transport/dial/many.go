package dial

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding"
	"errors"
	"fmt"
	"hash"
	"io"
	"path/filepath"
	"sync"
	"time"

	"github.com/imgx/imgx/internal/safetext"
	"github.com/imgx/imgx/progress"
	"github.com/imgx/imgx/transport"
)

// Test hooks: testHookBackend wraps the backend [Write] opened for location s (fault
// injection); testHookBeforeVerify runs between publishing and the read back (corruption).
var (
	testHookBackend      func(s string, b transport.Backend) transport.Backend
	testHookBeforeVerify func(s string)
)

// DefaultFanoutBuffer is the default of ManyOptions.Buffer: how far, in bytes, the
// fastest destination may run ahead of the slowest one still being fed.
const DefaultFanoutBuffer = 32 << 20

// DefaultStallTimeout is the default of ManyOptions.StallTimeout. It is long enough for
// a USB stick flushing its cache or an SFTP reconnection with backoff, short enough that
// a dead stick does not hold a room full of others for long.
const DefaultStallTimeout = 2 * time.Minute

// ErrStalled is the cause of a destination dropped by [WriteMany] because it took no
// data for ManyOptions.StallTimeout while the others waited for it.
var ErrStalled = errors.New("destination stalled")

// errNoDestination stops the producer when every destination has failed.
var errNoDestination = errors.New("every destination failed")

// ManyOptions tunes [WriteMany]. The zero value is ready to use.
type ManyOptions struct {
	// WriteOptions apply to every destination (Size, Verify, Put), as for [Write].
	WriteOptions
	// Buffer bounds, in bytes, what is queued for one destination: the producer waits
	// when a live destination has this much queued. 0 means DefaultFanoutBuffer. The
	// queued chunks are shared by all destinations, so the whole fan-out holds at most
	// about Buffer bytes, however many destinations there are.
	Buffer int64
	// StallTimeout drops a destination that takes no byte for this long while the
	// producer waits on it; its upload is cancelled and kept for a resume. 0 means
	// DefaultStallTimeout, a negative value never drops.
	StallTimeout time.Duration
}

// Statuses of a [Destination].
const (
	StatusWritten  = "written"  // published (not read back: no Verify)
	StatusVerified = "verified" // published and read back: size and sha256 match
	StatusFailed   = "failed"   // Err says why
)

// Destination is what [WriteMany] did at one location.
type Destination struct {
	Location string               // as given
	Result   *transport.PutResult // nil unless published; set when only the read back failed
	Verified bool                 // read back and matched
	Err      error                // nil unless failed
}

// Status is StatusFailed, StatusVerified or StatusWritten.
func (d Destination) Status() string {
	switch {
	case d.Err != nil:
		return StatusFailed
	case d.Verified:
		return StatusVerified
	}
	return StatusWritten
}

// ManyError is the error of a [WriteMany] in which some destinations failed; each
// failed [Destination] has its own Err.
type ManyError struct {
	Failed, Total int
}

// Error says how many failed: "2 of 5 destinations failed".
func (e *ManyError) Error() string {
	return fmt.Sprintf("%d of %d destinations failed", e.Failed, e.Total)
}

// WriteMany writes one stream to several locations at once, as [Write] does to one:
// fill runs once and what it writes is fanned out to every location, each with its own
// upload (atomic publish, resume of an earlier interrupted upload, retries, split volumes
// on FAT per local filesystem, read back with Verify), running concurrently.
//
// Each destination is fed through a bounded queue (ManyOptions.Buffer). The producer
// waits only when a live destination's queue is full, so the fan-out runs at the pace
// of the slowest destination still being fed, and the others are never more than Buffer
// behind the producer. A destination that fails is dropped at once and the others go
// on; one that takes nothing for StallTimeout is dropped as stalled. When every
// destination has failed, fill's writes fail and it stops.
//
// The stream is hashed once, beside the fan-out, and each upload takes its checkpoint and
// whole-file sha256 from there ([transport.HashedReader]) instead of hashing the same
// bytes again; what a destination resumes from an earlier run is checked by its own
// upload, and Verify reads back and hashes every destination, concurrently.
//
// Nothing is spilled to disk: a laptop writing to sticks often lacks the room for a
// second copy of the bundle, and a stick cannot finish before the bytes it lacks are
// produced anyway.
//
// The result has one Destination per location, in order. The error is fill's own
// error as it is (every destination then failed with it), a *[ManyError] when some
// destinations failed, or a usage error (no location, "-", a location given twice)
// before fill runs.
func WriteMany(ctx context.Context, locs []string, opts Options, mo ManyOptions, fill func(io.Writer) error) ([]Destination, error) {
	if len(locs) == 0 {
		return nil, errors.New("write: no location")
	}
	seen := map[string]bool{}
	for _, s := range locs {
		loc, err := transport.ParseLocation(s)
		if err != nil {
			return nil, err
		}
		if loc.Scheme == transport.Stdio {
			return nil, errors.New("write -: standard output cannot be one of several destinations")
		}
		key := loc.String()
		if loc.Scheme == transport.File { // a/x.imgx and ./a/x.imgx are one file
			if abs, err := filepath.Abs(loc.Path); err == nil {
				key = abs
			}
		}
		if seen[key] {
			return nil, fmt.Errorf("write %s: given twice", safetext.Quote(s))
		}
		seen[key] = true
	}
	if mo.Buffer <= 0 {
		mo.Buffer = DefaultFanoutBuffer
	}
	if mo.StallTimeout == 0 {
		mo.StallTimeout = DefaultStallTimeout
	}
	remote := false
	for _, s := range locs {
		if loc, _ := transport.ParseLocation(s); loc.IsRemote() {
			remote = true
		}
	}
	prog, err := opts.progress(fmt.Sprintf("%d destinations", len(locs)), remote)
	if err != nil {
		return nil, err
	}
	prog.SetTotal(mo.Size)
	defer prog.Done()

	interval := mo.Put.CheckpointInterval
	if interval <= 0 {
		interval = transport.DefaultCheckpointInterval
	}
	f, err := newFanout(ctx, mo.Buffer, mo.StallTimeout, interval)
	if err != nil {
		return nil, err
	}
	var hashWG sync.WaitGroup
	hashWG.Go(f.hashAll)
	stop := context.AfterFunc(ctx, f.wake)
	defer stop()

	one := opts
	one.Progress = nil // one display for the whole fan-out, not one per destination
	one.SFTP.Passphrase, one.SFTP.Password = askOnce(opts.SFTP.Passphrase, opts.SFTP.Password)
	dests := make([]Destination, len(locs))
	var wg sync.WaitGroup
	for i, s := range locs {
		qctx, cancel := context.WithCancel(ctx)
		q := &queue{live: true, last: time.Now(), cancel: cancel}
		f.queues = append(f.queues, q)
		stopQ := context.AfterFunc(qctx, f.wake)
		wg.Go(func() {
			defer cancel()
			defer stopQ()
			// The queue is the upload's source itself: no pipe, no second copy.
			res, err := write(qctx, s, one, mo.WriteOptions, func(put func(io.Reader) (transport.PutResult, error)) (transport.PutResult, error, error) {
				r := &queueReader{f: f, q: q}
				res, err := put(r)
				return res, r.err, err
			})
			f.mu.Lock()
			if q.err != nil { // dropped: that is the cause, not the cancellation it led to
				err = fmt.Errorf("write %s: %w", s, q.err)
			}
			f.drop(q, nil)
			f.mu.Unlock()
			d := Destination{Location: s, Err: err}
			if res != nil { // published; err, if any, is the read back's
				d.Result = res
			}
			d.Verified = err == nil && mo.Verify
			dests[i] = d
		})
	}
	// While fill runs, the producer waiting on a full queue wakes up now and then to
	// see whether that destination has stalled.
	stopTick := make(chan struct{})
	if mo.StallTimeout > 0 {
		tick := time.NewTicker(max(mo.StallTimeout/4, 10*time.Millisecond))
		go func() {
			defer tick.Stop()
			for {
				select {
				case <-tick.C:
					f.wake()
				case <-stopTick:
					return
				}
			}
		}()
	}

	ferr := fill(progress.Writer(f, prog))
	close(stopTick)
	f.mu.Lock()
	f.done, f.perr = true, ferr
	if errors.Is(ferr, errNoDestination) {
		f.perr = errNoDestination
	}
	f.cond.Broadcast()
	f.mu.Unlock()
	wg.Wait()
	hashWG.Wait()

	if ferr != nil && !errors.Is(ferr, errNoDestination) {
		return dests, ferr
	}
	failed := 0
	for _, d := range dests {
		if d.Err != nil {
			failed++
		}
	}
	if failed > 0 {
		return dests, &ManyError{Failed: failed, Total: len(dests)}
	}
	return dests, nil
}

// fanout is the producer's side: Write queues one copy of p, shared by every live
// destination and by the hasher (hashAll), which hashes the stream once for all of them:
// their uploads take the sha256 states from queueReader.SHA256State instead of hashing
// the same bytes each. The hasher runs beside the producer and the destinations, as each
// upload's own hashing did. One mutex and condition guard all queues; there are few
// destinations.
type fanout struct {
	ctx      context.Context
	bound    int64
	stall    time.Duration
	interval int64     // of the uploads' checkpoints: states are kept at its multiples
	h        hash.Hash // of the first hashed bytes; the hasher's alone
	mu       sync.Mutex
	cond     *sync.Cond
	queues   []*queue
	hq       *queue           // what the hasher has still to hash; never dropped
	hashed   int64            // bytes hashed so far
	states   map[int64][]byte // marshalled h at 0, at multiples of interval and at the end
	hashEnd  bool             // the hasher has hashed the whole stream (or fill failed)
	hashErr  error            // why the hasher stopped early
	done     bool             // fill returned
	perr     error            // what it returned
}

func newFanout(ctx context.Context, bound int64, stall time.Duration, interval int64) (*fanout, error) {
	f := &fanout{ctx: ctx, bound: bound, stall: stall, interval: interval, h: sha256.New(),
		states: map[int64][]byte{}, hq: &queue{live: true}}
	f.cond = sync.NewCond(&f.mu)
	return f, f.keepState()
}

// hashAll is the hasher: it hashes the chunks queued in f.hq in order, keeping the state
// at every multiple of the interval, and the state at the end once fill has returned.
func (f *fanout) hashAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for {
		if len(f.hq.chunks) == 0 {
			if f.done {
				if f.perr == nil && f.hashErr == nil && f.hashed%f.interval != 0 {
					f.hashErr = f.keepState()
				}
				f.hashEnd = true
				f.cond.Broadcast()
				return
			}
			f.cond.Wait()
			continue
		}
		chunk := f.hq.chunks[0]
		f.hq.chunks[0] = nil
		f.hq.chunks = f.hq.chunks[1:]
		f.hq.queued -= int64(len(chunk))
		f.cond.Broadcast() // room in the hasher's queue for the producer
		if f.hashErr != nil {
			continue // drain, so the producer is not held up; states are refused
		}
		f.mu.Unlock()
		var err error
		for p := chunk; len(p) > 0 && err == nil; {
			n := min(int64(len(p)), f.interval-f.hashed%f.interval)
			f.h.Write(p[:n])
			p = p[n:]
			f.mu.Lock()
			f.hashed += n
			if f.hashed%f.interval == 0 {
				err = f.keepState()
			}
			f.cond.Broadcast()
			f.mu.Unlock()
		}
		f.mu.Lock()
		if err != nil {
			f.hashErr = err
		}
	}
}

// keepState records the hash state after the first f.hashed bytes. f.mu is held.
func (f *fanout) keepState() error {
	state, err := f.h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return fmt.Errorf("fan-out sha256: %w", err)
	}
	f.states[f.hashed] = state
	return nil
}

// queue is what one destination has still to take.
type queue struct {
	chunks [][]byte // shared with the other queues, never modified
	off    int      // bytes of chunks[0] already taken
	queued int64
	live   bool      // still fed; false once dropped or ended
	err    error     // why it was dropped, nil if it ended by itself
	last   time.Time // when it last took bytes, or was given some after an empty queue
	cancel context.CancelFunc
}

func (f *fanout) wake() {
	f.mu.Lock()
	f.cond.Broadcast()
	f.mu.Unlock()
}

// drop stops feeding q; err, if not nil, is why (the destination's reported cause).
// f.mu is held.
func (f *fanout) drop(q *queue, err error) {
	if !q.live {
		return
	}
	q.live = false
	q.chunks, q.queued = nil, 0
	if err != nil {
		q.err = err
	}
	f.cond.Broadcast()
}

// Write queues p for every live destination, waiting while one of them has a full
// queue. It fails when the context ends or no destination is left.
func (f *fanout) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	chunk := bytes.Clone(p)
	n := int64(len(chunk))
	f.mu.Lock()
	defer f.mu.Unlock()
	for {
		if err := f.ctx.Err(); err != nil {
			return 0, err
		}
		live, full := 0, false
		for _, q := range f.queues {
			if !q.live {
				continue
			}
			if q.queued > 0 && q.queued+n > f.bound {
				if f.stall > 0 && time.Since(q.last) >= f.stall {
					f.drop(q, fmt.Errorf("%w: took no data for %s", ErrStalled, f.stall))
					q.cancel()
					continue
				}
				full = true
			}
			live++
		}
		if live == 0 {
			return 0, errNoDestination
		}
		if f.hq.queued > 0 && f.hq.queued+n > f.bound {
			full = true // the hasher too runs at most Buffer behind
		}
		if !full {
			break
		}
		f.cond.Wait()
	}
	for _, q := range f.queues {
		if q.live {
			if q.queued == 0 { // it waited for data: stalling is counted from now
				q.last = time.Now()
			}
			q.chunks = append(q.chunks, chunk)
			q.queued += n
		}
	}
	f.hq.chunks = append(f.hq.chunks, chunk)
	f.hq.queued += n
	f.cond.Broadcast()
	return len(p), nil
}

// queueReader is one destination's side: the stream as fill wrote it.
type queueReader struct {
	f    *fanout
	q    *queue
	read int64 // bytes taken
	err  error // the error Read returned, other than io.EOF: the source's, not the upload's
}

func (r *queueReader) Read(p []byte) (int, error) {
	n, err := r.take(p)
	r.read += int64(n)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

// HashInterval is the fan-out's: the uploads' checkpoint interval.
func (r *queueReader) HashInterval() int64 { return r.f.interval }

// SHA256State is the producer's sha256 state after the first n bytes, given only when
// this destination has taken exactly those bytes: the upload asking is at the same
// offset of the same stream (see [transport.HashedReader]).
func (r *queueReader) SHA256State(n int64) ([]byte, error) {
	if n != r.read {
		return nil, fmt.Errorf("state at byte %d asked by a reader at byte %d", n, r.read)
	}
	f := r.f
	f.mu.Lock()
	defer f.mu.Unlock()
	// The bytes this reader took were queued for the hasher too: wait for it to get
	// there (for a state not at a checkpoint, to the end of the stream).
	for !f.hashEnd && f.hashErr == nil && (f.hashed < n || n%f.interval != 0) {
		if err := f.ctx.Err(); err != nil {
			return nil, err
		}
		f.cond.Wait()
	}
	if f.hashErr != nil {
		return nil, f.hashErr
	}
	if n%f.interval != 0 && !(f.hashEnd && n == f.hashed) {
		return nil, fmt.Errorf("no state at byte %d: neither a checkpoint nor the end", n)
	}
	state, ok := f.states[n]
	if !ok {
		return nil, fmt.Errorf("no state at byte %d", n)
	}
	return state, nil
}

func (r *queueReader) take(p []byte) (int, error) {
	f, q := r.f, r.q
	f.mu.Lock()
	defer f.mu.Unlock()
	for {
		if !q.live {
			if q.err != nil {
				return 0, q.err
			}
			return 0, errors.New("destination dropped")
		}
		if len(q.chunks) > 0 {
			n := copy(p, q.chunks[0][q.off:])
			q.off += n
			if q.off == len(q.chunks[0]) {
				q.chunks[0] = nil
				q.chunks, q.off = q.chunks[1:], 0
			}
			q.queued -= int64(n)
			q.last = time.Now()
			f.cond.Broadcast()
			return n, nil
		}
		if f.done {
			if f.perr != nil {
				return 0, f.perr
			}
			return 0, io.EOF
		}
		if err := f.ctx.Err(); err != nil {
			return 0, err
		}
		f.cond.Wait()
	}
}

// askOnce makes the secret callbacks safe for destinations connecting at the same time:
// one question at a time (two prompts on one terminal would mix), and an answer given is
// reused for the same key file or login instead of asked for every destination.
func askOnce(passphrase func(string) ([]byte, error), password func(string, string) ([]byte, error)) (func(string) ([]byte, error), func(string, string) ([]byte, error)) {
	var mu sync.Mutex
	answers := map[string][]byte{}
	ask := func(key string, q func() ([]byte, error)) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		if a, ok := answers[key]; ok {
			return a, nil
		}
		a, err := q()
		if err == nil {
			answers[key] = a
		}
		return a, err
	}
	var pp func(string) ([]byte, error)
	if passphrase != nil {
		pp = func(keyFile string) ([]byte, error) {
			return ask("key\x00"+keyFile, func() ([]byte, error) { return passphrase(keyFile) })
		}
	}
	var pw func(string, string) ([]byte, error)
	if password != nil {
		pw = func(user, addr string) ([]byte, error) {
			return ask("login\x00"+user+"\x00"+addr, func() ([]byte, error) { return password(user, addr) })
		}
	}
	return pp, pw
}
