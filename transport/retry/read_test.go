package retry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/imgx/imgx/transport"
	"github.com/imgx/imgx/transport/local"
	"github.com/imgx/imgx/transport/transporttest"
)

// scriptedOpen serves name from data and makes the reader it returns for
// open number i (from 0) fail after cuts[i] bytes with err, handing out
// the last bytes before the failure together with the error, as pkg/sftp's
// File.Read does when a later request in flight fails.
type scriptedOpen struct {
	transport.Backend
	data  []byte
	cuts  []int64 // per open: bytes before the failure; -1 never fails
	err   error
	opens []int64 // offsets of each Open
}

func (s *scriptedOpen) Open(ctx context.Context, name string, off int64) (io.ReadCloser, error) {
	i := len(s.opens)
	s.opens = append(s.opens, off)
	cut := int64(-1)
	if i < len(s.cuts) {
		cut = s.cuts[i]
	}
	return &scriptedReader{data: s.data[off:], cut: cut, err: s.err}, nil
}

func (s *scriptedOpen) IsPermanent(err error) bool { return transport.IsPermanent(err) }

type scriptedReader struct {
	data []byte
	pos  int64
	cut  int64
	err  error
}

func (r *scriptedReader) Read(p []byte) (int, error) {
	if r.pos >= int64(len(r.data)) {
		return 0, io.EOF
	}
	n := int64(len(p))
	if rest := int64(len(r.data)) - r.pos; n > rest {
		n = rest
	}
	if r.cut >= 0 && r.pos+n >= r.cut {
		n = r.cut - r.pos // the data before the failure comes with the error
		copy(p, r.data[r.pos:r.pos+n])
		r.pos += n
		return int(n), r.err
	}
	copy(p, r.data[r.pos:r.pos+n])
	r.pos += n
	return int(n), nil
}

func (r *scriptedReader) Close() error { return nil }

// TestReadAttempts counts the attempts each failure costs: a read that
// returns bytes together with a transient error is retried once, resuming
// at the byte reached; a permanent one is not retried; progress resets the
// backoff, so a link that drops now and then is not given up on.
func TestReadAttempts(t *testing.T) {
	data := transporttest.Data(5, 100_000)
	errCut := fmt.Errorf("read: %w", errFlaky)
	tests := []struct {
		name      string
		cuts      []int64
		err       error
		wantOpens []int64 // offsets of every Open, the first one included
		wantWaits int
		wantErr   bool
	}{
		{"n>0 with transient error", []int64{30_000}, errCut, []int64{0, 30_000}, 1, false},
		{"n=0 with transient error", []int64{0}, errCut, []int64{0, 0}, 1, false},
		{"mid-read cut twice", []int64{12_345, 1}, errCut, []int64{0, 12_345, 12_346}, 2, false},
		{"permanent", []int64{30_000}, transport.Permanent(errCut), []int64{0}, 0, true},
		// 3 retries allowed; each cut after progress starts the count
		// again, so five cuts with progress between them all pass
		{"progress resets backoff", []int64{10, 10, 10, 10, 10}, errCut, []int64{0, 10, 20, 30, 40, 50}, 5, false},
		{"no progress gives up", []int64{10, 0, 0, 0, 0}, errCut, []int64{0, 10, 10, 10}, 3, true},
	}
	for _, tc := range tests {
		for _, via := range []string{"Read", "WriteTo"} {
			t.Run(tc.name+"/"+via, func(t *testing.T) {
				lb, _ := local.New(t.TempDir(), local.Options{})
				s := &scriptedOpen{Backend: lb, data: data, cuts: tc.cuts, err: tc.err}
				rb := New(s, Options{MaxRetries: 3, InitialDelay: time.Millisecond})
				var waits []time.Duration
				rb.sleep = func(ctx context.Context, d time.Duration) error { waits = append(waits, d); return nil }
				rc, err := rb.Open(context.Background(), "x", 0)
				if err != nil {
					t.Fatal(err)
				}
				var got bytes.Buffer
				if via == "Read" {
					_, err = io.CopyBuffer(&got, struct{ io.Reader }{rc}, make([]byte, 7000))
				} else {
					_, err = rc.(io.WriterTo).WriteTo(&got)
				}
				if (err != nil) != tc.wantErr {
					t.Fatalf("err %v, want error=%v", err, tc.wantErr)
				}
				if !tc.wantErr && !bytes.Equal(got.Bytes(), data) {
					t.Fatalf("got %d bytes, not the %d of the file", got.Len(), len(data))
				}
				if tc.wantErr && !bytes.Equal(got.Bytes(), data[:got.Len()]) {
					t.Fatal("bytes before the failure differ")
				}
				if fmt.Sprint(s.opens) != fmt.Sprint(tc.wantOpens) || len(waits) != tc.wantWaits {
					t.Fatalf("opens at %v after %d waits, want %v after %d", s.opens, len(waits), tc.wantOpens, tc.wantWaits)
				}
				for i, d := range waits {
					if d > 2*time.Millisecond*6/5 && tc.name != "no progress gives up" {
						t.Errorf("wait %d: %v, backoff not reset after progress", i, d)
					}
				}
				if tc.wantErr && errors.Is(tc.err, errFlaky) && !transport.IsPermanent(tc.err) && err != nil && !errors.Is(err, errFlaky) {
					t.Errorf("error %v lost its cause", err)
				}
			})
		}
	}
}

// TestDoAttempts counts the tries Do makes: MaxRetries retries of a
// transient error in a row, none of a permanent one, and progress starts
// the count again.
func TestDoAttempts(t *testing.T) {
	perm := errors.New("permanent")
	tests := []struct {
		name      string
		results   []error // per attempt; past the end: success
		progress  []bool  // per attempt
		wantTries int
		wantErr   bool
	}{
		{"ok at once", nil, nil, 1, false},
		{"transient twice", []error{errFlaky, errFlaky}, nil, 3, false},
		{"transient too often", []error{errFlaky, errFlaky, errFlaky, errFlaky, errFlaky}, nil, 4, true},
		{"permanent", []error{perm}, nil, 1, true},
		{"progress resets", []error{errFlaky, errFlaky, errFlaky, errFlaky, errFlaky, errFlaky}, []bool{false, false, true, false, false, true}, 7, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tries := 0
			err := Do(context.Background(), Options{MaxRetries: 3, InitialDelay: time.Microsecond, MaxDelay: time.Microsecond}, "op",
				func(err error) bool { return errors.Is(err, perm) },
				func(attempt int) (bool, error) {
					if attempt != tries {
						t.Fatalf("attempt %d, want %d", attempt, tries)
					}
					tries++
					if attempt < len(tc.results) {
						return attempt < len(tc.progress) && tc.progress[attempt], tc.results[attempt]
					}
					return false, nil
				})
			if (err != nil) != tc.wantErr || tries != tc.wantTries {
				t.Fatalf("err %v after %d tries, want error=%v after %d", err, tries, tc.wantErr, tc.wantTries)
			}
		})
	}
}

// TestReadErrorSticks: once the retries are spent, every later Read and
// WriteTo returns the error again, never io.EOF, which would let a caller
// that reads once more take a truncated file for a whole one.
func TestReadErrorSticks(t *testing.T) {
	data := transporttest.Data(6, 10_000)
	lb, _ := local.New(t.TempDir(), local.Options{})
	s := &failingReopen{scriptedOpen: scriptedOpen{Backend: lb, data: data, cuts: []int64{4000}, err: errFlaky}}
	rb := New(s, Options{MaxRetries: 2, InitialDelay: time.Microsecond})
	rc, err := rb.Open(context.Background(), "x", 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(io.Discard, struct{ io.Reader }{rc})
	if !errors.Is(err, errFlaky) {
		t.Fatalf("first error %v, want the cause", err)
	}
	for i := 0; i < 2; i++ {
		if n, err := rc.Read(make([]byte, 10)); n != 0 || !errors.Is(err, errFlaky) {
			t.Fatalf("read after the failure: %d, %v; want 0 and the same error", n, err)
		}
		if _, err := rc.(io.WriterTo).WriteTo(io.Discard); !errors.Is(err, errFlaky) {
			t.Fatalf("WriteTo after the failure: %v; want the same error", err)
		}
	}
}

// failingReopen serves the first Open and refuses every later one.
type failingReopen struct{ scriptedOpen }

func (f *failingReopen) Open(ctx context.Context, name string, off int64) (io.ReadCloser, error) {
	if len(f.opens) > 0 {
		f.opens = append(f.opens, off)
		return nil, fmt.Errorf("reconnect: %w", errFlaky)
	}
	return f.scriptedOpen.Open(ctx, name, off)
}
