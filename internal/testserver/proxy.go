package testserver

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Proxy forwards TCP connections to a target and can cut them after a
// number of bytes, like a flaky network, or slow them down, like a thin one.
type Proxy struct {
	Addr   string
	target string
	l      net.Listener
	// CutAfter, when > 0, closes a connection once that many bytes have
	// passed in either direction. Set it before dialling.
	CutAfter atomic.Int64
	// Cuts counts connections that were cut.
	Cuts atomic.Int64
	// Rate, when > 0, limits each direction of each connection to that many
	// bytes per second (in steps of about 10 ms), so that a test can act in the
	// middle of a transfer. It may change while connections are open.
	Rate atomic.Int64
	wg   sync.WaitGroup
	mu   sync.Mutex
	open map[net.Conn]bool
}

// StartProxy listens on 127.0.0.1:0 and forwards to target until t ends.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{Addr: l.Addr().String(), target: target, l: l, open: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.open[c], p.open[s] = true, true
		p.mu.Unlock()
		var budget atomic.Int64
		budget.Store(p.CutAfter.Load())
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
				if !p.pipe(s, c, &budget) {
					closeBoth()
				}
			}()
			go func() {
				defer wg.Done()
				if !p.pipe(c, s, &budget) {
					closeBoth()
				}
			}()
			wg.Wait()
			closeBoth()
		}()
	}
}

// pipe copies until EOF (true, after half-closing dst) or a cut or error.
func (p *Proxy) pipe(dst, src net.Conn, budget *atomic.Int64) bool {
	buf := make([]byte, 32<<10)
	limited := budget.Load() > 0
	for {
		chunk := buf
		rate := p.Rate.Load()
		if rate > 0 {
			chunk = buf[:max(1, min(int64(len(buf)), rate/100))]
		}
		n, err := src.Read(chunk)
		if n > 0 && rate > 0 {
			time.Sleep(time.Duration(int64(n) * int64(time.Second) / rate))
		}
		if n > 0 {
			if limited {
				left := budget.Add(-int64(n))
				if left <= 0 {
					if keep := int64(n) + left; keep > 0 {
						dst.Write(buf[:keep])
					}
					p.Cuts.Add(1)
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

// Close stops the proxy and cuts every open connection.
func (p *Proxy) Close() {
	p.l.Close()
	p.mu.Lock()
	for c := range p.open {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
