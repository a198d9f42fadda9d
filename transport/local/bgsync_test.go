package local

import (
	"errors"
	"slices"
	"sync"
	"testing"
)

// TestBackgroundCheckpoint: a checkpoint returns while its sync runs; states asked for
// meanwhile collapse to the latest; wait returns once that one is saved; a failure is
// returned by the next request and by wait, and nothing after it is saved.
func TestBackgroundCheckpoint(t *testing.T) {
	var c bgCheckpoint
	release := make(chan struct{})
	var mu sync.Mutex
	var saved []string
	run := func(st []byte) error {
		<-release
		mu.Lock()
		defer mu.Unlock()
		saved = append(saved, string(st))
		if string(st) == "bad" {
			return errors.New("disk gone")
		}
		return nil
	}
	buf := []byte("s1")
	if err := c.request(run, buf); err != nil { // returns with run blocked
		t.Fatal(err)
	}
	copy(buf, "XX") // the caller reuses its buffer: s1 was copied
	for _, s := range []string{"s2", "s3", "s4"} {
		if err := c.request(run, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	if err := c.wait(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"s1", "s4"}; !slices.Equal(saved, want) {
		t.Fatalf("saved %q, want %q", saved, want)
	}

	if err := c.request(run, []byte("bad")); err != nil {
		t.Fatal(err)
	}
	if err := c.wait(); err == nil {
		t.Fatal("wait after a failed checkpoint: no error")
	}
	if err := c.failed(); err == nil {
		t.Fatal("failed() after a failed checkpoint: nil")
	}
	if err := c.request(run, []byte("after")); err == nil {
		t.Fatal("request after a failed checkpoint: no error")
	}
	_ = c.wait()
	if slices.Contains(saved, "after") {
		t.Fatalf("a checkpoint was saved after a failure: %q", saved)
	}
}
