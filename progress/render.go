package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// New returns the renderer for a --progress mode: "bar" (a redrawn
// terminal line), "plain" (a line every 10 seconds, for logs), "none", or
// "auto": bar when w is a terminal, plain otherwise.
func New(mode string, w *os.File, label string) (Progress, error) {
	switch mode {
	case "none":
		return Noop, nil
	case "bar":
		return NewBar(w, label, termWidth(w)), nil
	case "plain":
		return NewPlain(w, label, 10*time.Second), nil
	case "auto", "":
		if term.IsTerminal(int(w.Fd())) {
			return NewBar(w, label, termWidth(w)), nil
		}
		return NewPlain(w, label, 10*time.Second), nil
	}
	return nil, fmt.Errorf("progress mode %q: want auto, bar, plain or none", mode)
}

func termWidth(w *os.File) int {
	if width, _, err := term.GetSize(int(w.Fd())); err == nil && width > 20 {
		return width
	}
	return 80
}

// meter holds what both renderers show.
type meter struct {
	mu          sync.Mutex
	w           io.Writer
	label       string
	total, done int64
	start, last time.Time
	finished    bool
	now         func() time.Time
}

func (m *meter) SetTotal(t int64) {
	m.mu.Lock()
	m.total = t
	m.mu.Unlock()
}

// rate is the average since start, in bytes per second.
func (m *meter) rate(now time.Time) float64 {
	el := now.Sub(m.start).Seconds()
	if el <= 0 {
		return 0
	}
	return float64(m.done) / el
}

func (m *meter) eta(now time.Time) string {
	r := m.rate(now)
	if m.total <= 0 || r <= 0 || m.done >= m.total {
		return "--"
	}
	return fmtDuration(time.Duration(float64(m.total-m.done) / r * float64(time.Second)))
}

func fmtDuration(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, m, s)
	}
	return fmt.Sprintf("%d:%02d", m, s)
}

// Size renders n bytes in SI units the way docker and podman do ("1.07GB", "21MB",
// "999B"). It is the one size format of imgx: bars, progress lines and summaries.
func Size(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	f := float64(n)
	for _, u := range []string{"kB", "MB", "GB", "TB"} {
		f /= unit
		if f < unit {
			if f < 10 {
				return fmt.Sprintf("%.2f%s", f, u)
			}
			return fmt.Sprintf("%.3g%s", f, u)
		}
	}
	return fmt.Sprintf("%.1fPB", f/unit)
}

// eraseLine returns the cursor to column 0 and erases the line (ESC [ K), so that
// whatever is written next starts on a clean line.
const eraseLine = "\r\x1b[K"

// Bar redraws one terminal line: label, bar, bytes, rate and ETA.
//
// Other output to the same terminal goes through Bar.Write, which erases the bar's
// line first; the bar is drawn again below at the next update. Done replaces the bar
// with its last line.
type Bar struct {
	meter
	width int
	drawn bool // a bar line is on the screen (no newline after it)
}

// NewBar draws on w, which should be a terminal of the given width.
func NewBar(w io.Writer, label string, width int) *Bar {
	b := &Bar{meter: meter{w: w, label: label, total: -1, now: time.Now}, width: width}
	b.start = b.now()
	return b
}

func (b *Bar) Add(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done += n
	if now := b.now(); !b.finished && now.Sub(b.last) >= 100*time.Millisecond {
		b.last = now
		b.draw(now)
	}
}

func (b *Bar) draw(now time.Time) {
	stats := Size(b.done)
	if b.total > 0 {
		stats += " / " + Size(b.total)
	}
	stats += fmt.Sprintf("  %s/s", Size(int64(b.rate(now))))
	if b.total > 0 {
		stats += "  ETA " + b.eta(now)
	}
	line := b.label + " "
	if room := b.width - len(line) - len(stats) - 4; b.total > 0 && room >= 10 {
		fill := int(float64(room) * float64(min(b.done, b.total)) / float64(b.total))
		bar := strings.Repeat("=", fill)
		if fill < room {
			bar += ">" + strings.Repeat(" ", room-fill-1)
		}
		line += "[" + bar + "] "
	}
	line += stats
	if len(line) > b.width-1 {
		line = line[:b.width-1]
	}
	fmt.Fprintf(b.w, "\r%-*s", b.width-1, line)
	b.drawn = true
}

// Write prints p (whole lines, such as a warning) above the bar: the bar's line is
// erased first, so p does not run into it, and the bar is drawn again at the next
// update. After Done it writes p as it is.
func (b *Bar) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.clearLocked()
	b.last = time.Time{} // redraw at the next Add
	return b.w.Write(p)
}

func (b *Bar) clearLocked() {
	if b.drawn {
		io.WriteString(b.w, eraseLine)
		b.drawn = false
	}
}

func (b *Bar) Done() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.finished {
		return
	}
	b.finished = true
	now := b.now()
	b.clearLocked()
	fmt.Fprintf(b.w, "%s %s in %s (%s/s)\n", b.label, Size(b.done),
		fmtDuration(now.Sub(b.start)), Size(int64(b.rate(now))))
}

// Plain writes a line every interval, for logs and pipes where a redrawn
// line would be noise.
type Plain struct {
	meter
	every time.Duration
}

// NewPlain writes to w at most once per every.
func NewPlain(w io.Writer, label string, every time.Duration) *Plain {
	p := &Plain{meter: meter{w: w, label: label, total: -1, now: time.Now}, every: every}
	p.start = p.now()
	p.last = p.start
	return p
}

func (p *Plain) Add(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	now := p.now()
	if p.finished || now.Sub(p.last) < p.every {
		return
	}
	p.last = now
	if p.total > 0 {
		fmt.Fprintf(p.w, "%s: %s of %s (%d%%), %s/s, ETA %s\n", p.label, Size(p.done), Size(p.total),
			p.done*100/p.total, Size(int64(p.rate(now))), p.eta(now))
	} else {
		fmt.Fprintf(p.w, "%s: %s, %s/s\n", p.label, Size(p.done), Size(int64(p.rate(now))))
	}
}

func (p *Plain) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.finished {
		return
	}
	p.finished = true
	now := p.now()
	fmt.Fprintf(p.w, "%s: done, %s in %s (%s/s)\n", p.label, Size(p.done), fmtDuration(now.Sub(p.start)), Size(int64(p.rate(now))))
}
