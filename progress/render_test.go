package progress

import (
	"bytes"
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
	want := "upload: 20.0 MiB of 100.0 MiB (20%), 2.0 MiB/s, ETA 0:40\n" +
		"upload: 100.0 MiB of 100.0 MiB (100%), 2.5 MiB/s, ETA --\n" +
		"upload: done, 100.0 MiB in 0:40 (2.5 MiB/s)\n"
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
	for _, want := range []string{"\rput [", "[==>       ]", "256.0 MiB / 1.0 GiB", "128.0 MiB/s", "ETA 0:06"} {
		if !strings.Contains(out, want) {
			t.Errorf("bar %q lacks %q", out, want)
		}
	}
	if n := len(strings.TrimPrefix(out, "\r")); n != 59 {
		t.Errorf("bar is %d wide, want 59", n)
	}
	b.Done()
	if !strings.HasSuffix(buf.String(), "put 256.0 MiB in 0:02 (128.0 MiB/s)\n") {
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
