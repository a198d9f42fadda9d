package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenInputAt: the input of a local file can be read again by offset (verify checks
// its layers with parallel readers); standard input cannot, and keeps the stream path.
func TestOpenInputAt(t *testing.T) {
	p := filepath.Join(t.TempDir(), "b.imgx")
	data := []byte(strings.Repeat("bundle bytes ", 1000))
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	e := &Env{Stdin: bytes.NewReader(data), Stdout: io.Discard, Stderr: io.Discard}
	tf := &transportFlags{progress: "none"}
	in, done, err := openInput(context.Background(), e, p, tf)
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	if in.At == nil {
		t.Fatal("a local file has no Input.At")
	}
	b := make([]byte, 12)
	if _, err := in.At.ReadAt(b, 13); err != nil || string(b) != "bundle bytes" {
		t.Fatalf("ReadAt = %q, %v", b, err)
	}
	sin, sdone, err := openInput(context.Background(), e, "-", tf)
	if err != nil {
		t.Fatal(err)
	}
	defer sdone()
	if sin.At != nil {
		t.Fatal("standard input has an Input.At")
	}
}
