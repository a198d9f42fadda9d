package progress

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestPlain(t *testing.T) {
	var buf bytes.Buffer
	c := &clock{time.Unix(1000, 0)}
	p := NewPlain(&buf, "upload", 10*time.Second)
	p.now = c.now
	p.start, p.last = c.t, c.t
	p.SetTotal(100 << 20)
	c.t = c.t.Add(5 * time.Second)
	p.Add(10 << 20) // too early for a line
	c.t = c.t.Add(5 * time.Second)
	p.Add(10 << 20)
	c.t = c.t.Add(30 * time.Second)
	p.Add(80 << 20)
	p.Done()
	p.Done()
	want := "upload: 21MB of 105MB (20%), 2.10MB/s, ETA 0:40\n" +
		"upload: 105MB of 105MB (100%), 2.62MB/s, ETA --\n" +
		"upload: done, 105MB in 0:40 (2.62MB/s)\n"
	if buf.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", buf.String(), want)
	}
}

func TestBar(t *testing.T) {
	var buf bytes.Buffer
	c := &clock{time.Unix(1000, 0)}
	b := NewBar(&buf, "put", 60)
	b.now = c.now
	b.start = c.t
	b.SetTotal(1 << 30)
	c.t = c.t.Add(2 * time.Second)
	b.Add(256 << 20)
	out := buf.String()
	for _, want := range []string{"\rput [", "[====>              ]", "268MB / 1.07GB", "134MB/s", "ETA 0:06"} {
		if !strings.Contains(out, want) {
			t.Errorf("bar %q lacks %q", out, want)
		}
	}
	if n := len(strings.TrimPrefix(out, "\r")); n != 59 {
		t.Errorf("bar is %d wide, want 59", n)
	}
	b.Done()
	if !strings.HasSuffix(buf.String(), "put 268MB in 0:02 (134MB/s)\n") {
		t.Errorf("done line: %q", buf.String())
	}
}

func TestNewModes(t *testing.T) {
	for _, m := range []string{"auto", "bar", "plain", "none", ""} {
		if _, err := New(m, nil2(), "x"); err != nil {
			t.Errorf("%s: %v", m, err)
		}
	}
	if _, err := New("fancy", nil2(), "x"); err == nil {
		t.Error("unknown mode accepted")
	}
}

func nil2() *os.File { f, _ := os.Open(os.DevNull); return f }

// TestSize: one size format for the whole tool, SI units as docker and podman print them.
func TestSize(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{
		{0, "0B"}, {999, "999B"}, {1000, "1.00kB"}, {1536, "1.54kB"}, {20 << 20, "21MB"},
		{123456789, "123MB"}, {1 << 30, "1.07GB"}, {5e12, "5.00TB"}, {3e15, "3.0PB"},
	} {
		if got := Size(tc.n); got != tc.want {
			t.Errorf("Size(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

// screen is a fake terminal: it applies \r, \n and ESC[K (erase to end of line) the
// way a terminal does and keeps the lines as they would show.
type screen struct {
	lines []string
	col   int
}

func (s *screen) Write(p []byte) (int, error) {
	if len(s.lines) == 0 {
		s.lines = []string{""}
	}
	str := string(p)
	for i := 0; i < len(str); i++ {
		cur := &s.lines[len(s.lines)-1]
		switch c := str[i]; {
		case c == '\r':
			s.col = 0
		case c == '\n':
			s.lines = append(s.lines, "")
			s.col = 0
		case strings.HasPrefix(str[i:], "\x1b[K"):
			*cur = (*cur)[:min(s.col, len(*cur))]
			i += 2
		default:
			line := []byte(*cur)
			for len(line) <= s.col {
				line = append(line, ' ')
			}
			line[s.col] = c
			*cur = string(line)
			s.col++
		}
	}
	return len(p), nil
}

// shown is what the terminal shows, trailing blanks dropped.
func (s *screen) shown() []string {
	var out []string
	for _, l := range s.lines {
		out = append(out, strings.TrimRight(l, " "))
	}
	return out
}

// TestBarClearsBeforeOtherOutput: a warning printed while the bar is drawn starts on a
// clean line (the bar's line is erased first and the bar redrawn below it), and the
// last line replaces the bar instead of running into it.
func TestBarClearsBeforeOtherOutput(t *testing.T) {
	var term screen
	c := &clock{time.Unix(1000, 0)}
	b := NewBar(&term, "put", 60)
	b.now = c.now
	b.start = c.t
	b.SetTotal(1 << 30)
	c.t = c.t.Add(2 * time.Second)
	b.Add(256 << 20)
	w, ok := any(b).(io.Writer)
	if !ok {
		t.Fatal("Bar cannot print a line above itself (no Write)")
	}
	fmt.Fprintf(w, "imgx: warning: retry 1/5\n")
	got := term.shown()
	if len(got) != 2 || got[0] != "imgx: warning: retry 1/5" || got[1] != "" {
		t.Fatalf("after a warning the terminal shows %q", got)
	}
	c.t = c.t.Add(time.Second)
	b.Add(1 << 20)
	if got := term.shown(); len(got) != 2 || !strings.HasPrefix(got[1], "put [") {
		t.Fatalf("bar not redrawn below the warning: %q", got)
	}
	b.Done()
	fmt.Fprintf(w, "after\n")
	got = term.shown()
	want := []string{"imgx: warning: retry 1/5", "put 269MB in 0:03 (89.8MB/s)", "after", ""}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("terminal shows %q, want %q", got, want)
	}
	// Done with nothing drawn yet leaves no stray blank line.
	var t2 screen
	b2 := NewBar(&t2, "get", 60)
	b2.Done()
	if got := t2.shown(); len(got) != 2 || !strings.HasPrefix(got[0], "get 0B in") {
		t.Errorf("done without a bar: %q", got)
	}
}

func TestFunc(t *testing.T) {
	var got []int64
	p := Func(func(done, total int64) { got = append(got, done, total) })
	p.SetTotal(10)
	p.Add(4)
	p.Add(6)
	p.Done()
	if want := []int64{0, 10, 4, 10, 10, 10}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
