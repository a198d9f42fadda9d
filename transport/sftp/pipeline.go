package sftp

import (
	"io"
	"sync"
)

// readAhead reads a file front to back with up to depth requests of size bytes in
// flight, whatever the size of the caller's reads: a 32 KiB Read (bufio, io.Copy) is
// served from requests already answered instead of waiting a round trip for each.
// pkg/sftp's own File.Read pipelines only within one call, and File.WriteTo is only
// reached when nothing between it and io.Copy hides it.
//
// Each request is one File.ReadAt of at most the client's packet size, which pkg/sftp
// sends as one SSH_FXP_READ and repeats for the rest when a server answers with less
// than asked: a short answer costs a round trip, never a hole in the data.
//
// The number in flight starts small and grows by one for every request consumed, so
// opening a small file does not ask for megabytes past its end.
type readAhead struct {
	f     io.ReaderAt // a *sftp.File: each ReadAt of at most size bytes is one request
	size  int
	depth int         // most requests in flight
	limit int         // requests in flight allowed now: grows to depth
	ring  []*readSlot // sent, in file order; ring[0] is the next to deliver
	next  int64       // offset of the next request to send
	stop  bool        // a request came back short or failed: send no more
	cur   []byte      // unread bytes of the delivered request
	buf   []byte      // the delivered request's buffer, reused once cur is drained
	err   error       // what ends the stream once cur is drained
	pool  [][]byte    // free buffers
	wg    sync.WaitGroup
}

type readSlot struct {
	buf  []byte
	n    int
	err  error
	done chan struct{}
}

const readAheadStart = 4 // requests in flight on a fresh reader

func newReadAhead(f io.ReaderAt, off int64, size, depth int) *readAhead {
	r := &readAhead{f: f, size: size, depth: max(depth, 1), next: off}
	r.limit = min(readAheadStart, r.depth)
	for range r.limit {
		r.send()
	}
	return r
}

// send asks for the next size bytes.
func (r *readAhead) send() {
	var buf []byte
	if n := len(r.pool); n > 0 {
		buf, r.pool = r.pool[n-1], r.pool[:n-1]
	} else {
		buf = make([]byte, r.size)
	}
	s := &readSlot{buf: buf, done: make(chan struct{})}
	off := r.next
	r.next += int64(r.size)
	r.ring = append(r.ring, s)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		s.n, s.err = r.f.ReadAt(s.buf, off)
		close(s.done)
	}()
}

// advance delivers the oldest request, waiting for its answer, and sends the requests
// its delivery allows.
func (r *readAhead) advance() {
	if r.buf != nil {
		r.pool = append(r.pool, r.buf)
		r.buf = nil
	}
	s := r.ring[0]
	<-s.done
	r.ring = r.ring[1:]
	r.buf, r.cur = s.buf, s.buf[:s.n]
	if s.err != nil || s.n < len(s.buf) {
		// The end of the file (io.EOF) or a failure: later requests asked for bytes
		// after it and are dropped; after a failure the caller may re-open here.
		r.stop = true
		r.err = s.err
		if r.err == nil {
			r.err = io.ErrUnexpectedEOF // ReadAt promises an error with a short count
		}
		return
	}
	r.limit = min(r.limit+1, r.depth)
	for len(r.ring) < r.limit {
		r.send()
	}
}

// more reports whether cur is drained and nothing more will come; it delivers the next
// request when there is one.
func (r *readAhead) drained() bool {
	for len(r.cur) == 0 {
		if r.stop || len(r.ring) == 0 {
			return true
		}
		r.advance()
	}
	return false
}

func (r *readAhead) Read(p []byte) (int, error) {
	if r.drained() {
		return 0, r.end()
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// WriteTo hands each answered request to w as it is, without a copy.
func (r *readAhead) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for !r.drained() {
		n, err := w.Write(r.cur)
		total += int64(n)
		r.cur = r.cur[n:]
		if err != nil {
			return total, err
		}
		if n == 0 {
			return total, io.ErrShortWrite
		}
	}
	if err := r.end(); err != io.EOF {
		return total, err
	}
	return total, nil
}

func (r *readAhead) end() error {
	if r.err == nil {
		return io.EOF
	}
	return r.err
}

// Close waits for the requests still in flight, whose answers go nowhere.
func (r *readAhead) Close() {
	r.wg.Wait()
}

// writeBehind writes a file front to back with up to depth requests of size bytes in
// flight across Write calls: write copies the bytes into request buffers and returns
// while the server still writes them, so the caller hashes and reads its next chunk
// meanwhile and the stream never drains between chunks. Requests are full size
// whatever the caller's writes; flush sends the last, partial one and waits for every
// answer.
//
// Requests finish in any order. After a failure the file may hold bytes written past a
// request that failed (a hole before them): safe is the length of the prefix the server
// acknowledged without a gap, and nothing after it may be trusted.
type writeBehind struct {
	f     io.WriterAt // a *sftp.File: each WriteAt of at most size bytes is one request
	size  int
	free  chan []byte
	alloc int    // buffers made so far, at most cap(free)
	cur   []byte // the request being filled, not sent yet
	wg    sync.WaitGroup

	mu     sync.Mutex
	queue  []*writeReq // sent and not yet acknowledged in a gapless prefix, in file order
	end    int64       // offset after the last request sent
	err    error       // first failure by offset
	errOff int64
	errLen int // size of the request that failed
}

type writeReq struct {
	off int64
	ok  bool
}

func newWriteBehind(f io.WriterAt, off int64, size, depth int) *writeBehind {
	return &writeBehind{f: f, size: size, free: make(chan []byte, max(depth, 1)), end: off}
}

// failure is the first failed request's error, if any, and its size.
func (w *writeBehind) failure() (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.errLen, w.err
}

// safe is the end of the prefix that the server acknowledged without a gap.
func (w *writeBehind) safe() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.queue) > 0 {
		return w.queue[0].off
	}
	return w.end
}

// write appends p. It blocks only while depth requests are in flight; a failure of
// an earlier request is returned instead of taking more.
func (w *writeBehind) write(p []byte) error {
	for len(p) > 0 {
		if _, err := w.failure(); err != nil {
			return err
		}
		if w.cur == nil {
			w.cur = w.buffer()[:0]
		}
		n := copy(w.cur[len(w.cur):w.size], p)
		w.cur = w.cur[:len(w.cur)+n]
		p = p[n:]
		if len(w.cur) == w.size {
			w.send()
		}
	}
	return nil
}

// buffer returns a free request buffer, waiting for one when depth are in flight.
func (w *writeBehind) buffer() []byte {
	select {
	case b := <-w.free:
		return b
	default:
	}
	if w.alloc < cap(w.free) {
		w.alloc++
		return make([]byte, w.size)
	}
	return <-w.free
}

// send sends cur.
func (w *writeBehind) send() {
	data := w.cur
	w.cur = nil
	w.mu.Lock()
	req := &writeReq{off: w.end}
	w.queue = append(w.queue, req)
	w.end += int64(len(data))
	w.mu.Unlock()
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		_, err := w.f.WriteAt(data, req.off)
		w.mu.Lock()
		req.ok = err == nil
		if err != nil && (w.err == nil || req.off < w.errOff) {
			w.err, w.errOff, w.errLen = err, req.off, len(data)
		}
		for len(w.queue) > 0 && w.queue[0].ok {
			w.queue = w.queue[1:]
		}
		w.mu.Unlock()
		w.free <- data[:cap(data)]
	}()
}

// flush sends what is buffered, waits for every request and returns the first
// failure.
func (w *writeBehind) flush() error {
	if len(w.cur) > 0 {
		if _, err := w.failure(); err == nil {
			w.send()
		}
	}
	w.wg.Wait()
	_, err := w.failure()
	return err
}
