package testserver

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Proxy forwards TCP connections to a target and can cut or stall them
// after a number of bytes, like a flaky network, or slow them down, like a thin one.
type Proxy struct {
	Addr   string
	target string
	l      net.Listener
	// CutAfter, when > 0, closes every connection once that many bytes
	// have passed in either direction. Set it before dialling.
	CutAfter atomic.Int64
	// StallAfter, when > 0, makes every connection stop forwarding in both
	// directions once that many bytes have passed, keeping both sockets
	// open: no FIN, no RST, what a NAT timeout or a dropped radio link
	// looks like to both ends. Set it before dialling.
	StallAfter atomic.Int64
	// Refuse, when set, closes new connections at once (a server gone).
	Refuse atomic.Bool
	// Rate, when > 0, limits each direction of each connection to that many
	// bytes per second (in steps of about 10 ms), so that a test can act in the
	// middle of a transfer. It may change while connections are open.
	Rate atomic.Int64
	// Cuts and Stalls count connections that were cut or stalled;
	// Conns counts connections accepted.
	Cuts, Stalls, Conns atomic.Int64
	wg                  sync.WaitGroup
	mu                  sync.Mutex
	open                map[net.Conn]bool
	next                []Fault
	done                chan struct{}
}

// Fault is what happens to one connection: cut or stall after that many
// bytes (in either direction); 0 leaves it alone.
type Fault struct{ Cut, Stall int64 }

// FaultNext queues faults for the next connections accepted, one each, in
// order; they take precedence over CutAfter and StallAfter, and
// connections after them get those.
func (p *Proxy) FaultNext(f ...Fault) {
	p.mu.Lock()
	p.next = append(p.next, f...)
	p.mu.Unlock()
}

// StartProxy listens on 127.0.0.1:0 and forwards to target until t ends.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{Addr: l.Addr().String(), target: target, l: l, open: map[net.Conn]bool{}, done: make(chan struct{})}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// link is the shared state of one proxied connection.
type link struct {
	budget  atomic.Int64 // bytes left before the fault; <= 0 at the start: none
	stall   bool         // the fault stalls rather than cuts
	stalled atomic.Bool
	faulted atomic.Bool // counted once, whichever direction got there
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		if p.Refuse.Load() {
			c.Close()
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.Conns.Add(1)
		lk := &link{}
		p.mu.Lock()
		p.open[c], p.open[s] = true, true
		f := Fault{Cut: p.CutAfter.Load(), Stall: p.StallAfter.Load()}
		if len(p.next) > 0 {
			f, p.next = p.next[0], p.next[1:]
		}
		p.mu.Unlock()
		switch {
		case f.Cut > 0:
			lk.budget.Store(f.Cut)
		case f.Stall > 0:
			lk.budget.Store(f.Stall)
			lk.stall = true
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			var once sync.Once
			closeBoth := func() {
				once.Do(func() {
					c.Close()
					s.Close()
					p.mu.Lock()
					delete(p.open, c)
					delete(p.open, s)
					p.mu.Unlock()
				})
			}
			var wg sync.WaitGroup
			wg.Add(2)
			go func() {
				defer wg.Done()
				if !p.pipe(s, c, lk) {
					closeBoth()
				}
			}()
			go func() {
				defer wg.Done()
				if !p.pipe(c, s, lk) {
					closeBoth()
				}
			}()
			wg.Wait()
			closeBoth()
		}()
	}
}

// pipe copies until EOF (true, after half-closing dst) or a cut or error.
// A stalled link stops forwarding until the proxy closes.
func (p *Proxy) pipe(dst, src net.Conn, lk *link) bool {
	buf := make([]byte, 32<<10)
	limited := lk.budget.Load() > 0
	for {
		chunk := buf
		rate := p.Rate.Load()
		if rate > 0 {
			chunk = buf[:max(1, min(int64(len(buf)), rate/100))]
		}
		n, err := src.Read(chunk)
		if lk.stalled.Load() {
			<-p.done
			return false
		}
		if n > 0 && rate > 0 {
			time.Sleep(time.Duration(int64(n) * int64(time.Second) / rate))
		}
		if n > 0 {
			if limited {
				left := lk.budget.Add(-int64(n))
				if left <= 0 {
					if keep := int64(n) + left; keep > 0 {
						dst.Write(buf[:keep])
					}
					first := !lk.faulted.Swap(true)
					if lk.stall {
						lk.stalled.Store(true)
						if first {
							p.Stalls.Add(1)
						}
						<-p.done
						return false
					}
					if first {
						p.Cuts.Add(1)
					}
					return false
				}
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return false
			}
		}
		if err != nil {
			if err != io.EOF {
				return false
			}
			if tc, ok := dst.(*net.TCPConn); ok {
				tc.CloseWrite()
			}
			return true
		}
	}
}

// Close stops the proxy and cuts every open connection, stalled ones too.
func (p *Proxy) Close() {
	select {
	case <-p.done:
	default:
		close(p.done)
	}
	p.l.Close()
	p.mu.Lock()
	for c := range p.open {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
