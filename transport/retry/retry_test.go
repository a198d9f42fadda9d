package retry

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/imgx/imgx/transport"
	"github.com/imgx/imgx/transport/local"
	"github.com/imgx/imgx/transport/transporttest"
)

var errFlaky = errors.New("connection reset")

// flaky fails Stat with a transient error the first failN times, or with
// a permanent one.
type flaky struct {
	transport.Backend
	failN int
	err   error
	calls int
}

func (f *flaky) Stat(ctx context.Context, name string) (transport.FileInfo, error) {
	f.calls++
	if f.calls <= f.failN {
		return transport.FileInfo{}, f.err
	}
	return f.Backend.Stat(ctx, name)
}

func (f *flaky) IsPermanent(err error) bool {
	return transport.IsPermanent(err) || errors.Is(err, fs.ErrNotExist)
}

func newFlaky(t *testing.T, failN int, err error) (*flaky, *Backend, *[]time.Duration) {
	lb, _ := local.New(t.TempDir(), local.Options{})
	f := &flaky{Backend: lb, failN: failN, err: err}
	var waits []time.Duration
	rb := New(f, Options{MaxRetries: 3, InitialDelay: 100 * time.Millisecond, MaxDelay: 250 * time.Millisecond})
	rb.sleep = func(ctx context.Context, d time.Duration) error { waits = append(waits, d); return ctx.Err() }
	return f, rb, &waits
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name      string
		failN     int
		err       error
		wantCalls int
		wantErr   bool
	}{
		{"transient then ok", 2, errFlaky, 3, false},
		{"transient too often", 10, errFlaky, 4, true},
		{"permanent", 10, transport.Permanent(errFlaky), 1, true},
		{"not exist", 10, fs.ErrNotExist, 1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, rb, waits := newFlaky(t, tc.failN, tc.err)
			transport.Put(context.Background(), f.Backend, "x", strings.NewReader("x"), transport.PutOptions{})
			_, err := rb.Stat(context.Background(), "x")
			if (err != nil) != tc.wantErr || f.calls != tc.wantCalls {
				t.Fatalf("err %v after %d calls, want error=%v after %d", err, f.calls, tc.wantErr, tc.wantCalls)
			}
			for i, d := range *waits {
				base := min(100*time.Millisecond<<i, 250*time.Millisecond)
				if d < base*4/5 || d > base*6/5 {
					t.Errorf("wait %d: %v, want about %v", i, d, base)
				}
			}
		})
	}
}

func TestNoRetryAfterCancel(t *testing.T) {
	f, rb, _ := newFlaky(t, 10, errFlaky)
	ctx, cancel := context.WithCancel(context.Background())
	rb.sleep = func(context.Context, time.Duration) error { cancel(); return context.Canceled }
	_, err := rb.Stat(ctx, "x")
	if err == nil || f.calls != 1 {
		t.Fatalf("err %v after %d calls, want 1 call", err, f.calls)
	}
}

// The decorated backend still passes the conformance suite.
func TestConformance(t *testing.T) {
	transporttest.Run(t, func(t *testing.T) transport.Backend {
		lb, err := local.New(t.TempDir(), local.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return New(lb, Options{})
	})
}

func TestReplay(t *testing.T) {
	r := replay{max: 4, start: 10}
	r.add([]byte("ab"))
	r.add([]byte("cdef"))
	r.add([]byte("g"))
	if got, ok := r.since(13); !ok || string(got) != "defg" {
		t.Fatalf("since 13: %q %v", got, ok)
	}
	if _, ok := r.since(11); ok {
		t.Fatal("since 11 should be gone")
	}
	r.add([]byte("0123456789"))
	if got, ok := r.since(23); !ok || string(got) != "6789" {
		t.Fatalf("after a big write: %q %v", got, ok)
	}
}

// TestReplayRing: any sequence of writes keeps exactly the last max bytes, whatever
// their sizes and however the ring wraps.
func TestReplayRing(t *testing.T) {
	for _, max := range []int{1, 5, 16} {
		for _, sizes := range [][]int{{1, 1, 1, 1, 1, 1, 1}, {3, 4, 5, 6}, {16, 1, 2}, {0, 7, 9, 2, 30, 1}, {2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2}} {
			r := replay{max: max, start: 100}
			var all []byte
			for i, n := range sizes {
				p := make([]byte, n)
				for j := range p {
					p[j] = byte(len(all) + j)
				}
				all = append(all, p...)
				r.add(p)
				end := int64(100 + len(all))
				oldest := end - int64(min(max, len(all)))
				for off := oldest; off <= end; off++ {
					got, ok := r.since(off)
					if !ok || !bytes.Equal(got, all[off-100:]) {
						t.Fatalf("max %d sizes %v after write %d: since(%d) = %v %v, want %v", max, sizes, i, off, got, ok, all[off-100:])
					}
				}
				if _, ok := r.since(oldest - 1); ok && oldest > 100 {
					t.Fatalf("max %d sizes %v: since(%d) kept a byte older than the last %d", max, sizes, oldest-1, max)
				}
			}
		}
	}
}
