package inflate

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// The tests see a decoder panic itself, not the error contain makes of it.
func init() { panicOnBug = true }

// TestContainPanic: outside the tests a panic while decoding becomes the Reader's
// error, wrapping ErrCorrupt, and reading on returns it instead of crashing.
func TestContainPanic(t *testing.T) {
	panicOnBug = false
	defer func() { panicOnBug = true }()
	d := NewRawReader(bytes.NewReader(nil))
	func() {
		defer d.contain()
		var s []byte
		_ = s[3] // what a decoder bug looks like
	}()
	if !errors.Is(d.err, ErrCorrupt) {
		t.Fatalf("after a panic the Reader's error is %v, want ErrCorrupt", d.err)
	}
	if _, err := io.Copy(io.Discard, d); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("reading on: %v, want ErrCorrupt", err)
	}
}
