package progress

import (
	"io"
	"sync"
)

// Progress receives the progress of one operation. Implementations are
// safe for concurrent use.
type Progress interface {
	// SetTotal sets the expected number of bytes; a negative total means
	// unknown. It may be called again when the estimate changes.
	SetTotal(total int64)
	// Add records n more bytes done (n may be a whole resumed prefix).
	Add(n int64)
	// Done marks the end of the operation, successful or not; renderers
	// print their last line. Further calls are ignored.
	Done()
}

// Noop is a Progress that shows nothing.
var Noop Progress = noop{}

type noop struct{}

func (noop) SetTotal(int64) {}
func (noop) Add(int64)      {}
func (noop) Done()          {}

// OrNoop returns p, or Noop when p is nil, so options can leave it unset.
func OrNoop(p Progress) Progress {
	if p == nil {
		return Noop
	}
	return p
}

// Reader reports the bytes read through it to p.
func Reader(r io.Reader, p Progress) io.Reader {
	return &CountReader{R: r, p: OrNoop(p)}
}

// Writer reports the bytes written through it to p.
func Writer(w io.Writer, p Progress) io.Writer {
	return &CountWriter{W: w, p: OrNoop(p)}
}

// Counter is a Progress that only counts; tests and callers that render
// their own way read it with Get.
type Counter struct {
	mu          sync.Mutex
	total, done int64
	finished    bool
}

func (c *Counter) SetTotal(t int64) { c.mu.Lock(); c.total = t; c.mu.Unlock() }
func (c *Counter) Add(n int64)      { c.mu.Lock(); c.done += n; c.mu.Unlock() }
func (c *Counter) Done()            { c.mu.Lock(); c.finished = true; c.mu.Unlock() }

// Get returns the bytes done, the total and whether Done was called.
func (c *Counter) Get() (done, total int64, finished bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.done, c.total, c.finished
}

// Func adapts fn to a Progress for callers that want plain numbers: fn gets the bytes
// done so far and the total (negative: unknown) after every SetTotal and Add, from the
// goroutine doing the work. Done does nothing.
func Func(fn func(done, total int64)) Progress { return &funcProgress{fn: fn, total: -1} }

type funcProgress struct {
	mu          sync.Mutex
	fn          func(done, total int64)
	done, total int64
}

func (f *funcProgress) SetTotal(t int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.total = t
	f.fn(f.done, f.total)
}

func (f *funcProgress) Add(n int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.done += n
	f.fn(f.done, f.total)
}

func (f *funcProgress) Done() {}

// CountWriter counts the bytes written through it to W, for results that report a size
// (N is read once writing is over; it is not synchronised). Writer makes one that also
// reports to a Progress.
type CountWriter struct {
	W   io.Writer
	N   int64
	Err error // the last error W returned: tells a failed destination from a failed source
	p   Progress
}

// Write writes b to W and counts what was written.
func (c *CountWriter) Write(b []byte) (int, error) {
	n, err := c.W.Write(b)
	c.N += int64(n)
	c.Err = err
	if c.p != nil && n > 0 {
		c.p.Add(int64(n))
	}
	return n, err
}

// CountReader counts the bytes read through it from R, like CountWriter; Reader makes
// one that also reports to a Progress.
type CountReader struct {
	R io.Reader
	N int64
	p Progress
}

// Read reads from R and counts what was read.
func (c *CountReader) Read(b []byte) (int, error) {
	n, err := c.R.Read(b)
	c.N += int64(n)
	if c.p != nil && n > 0 {
		c.p.Add(int64(n))
	}
	return n, err
}
