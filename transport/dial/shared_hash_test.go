package dial

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/imgx/imgx/transport"
	"github.com/imgx/imgx/transport/transporttest"
)

// TestWriteManySharedHashResume: the fan-out hashes the stream once for all destinations
// (their uploads take the sha256 states from it). A destination interrupted mid-way in a
// fan-out leaves the same resume state as a single Write interrupted at the same byte,
// and resumes from it in the next fan-out with the right whole-file sha256, read back;
// also without its state (the partial file is then compared with the stream), from an
// offset that is not a checkpoint, and past a damaged byte.
func TestWriteManySharedHashResume(t *testing.T) {
	data := transporttest.Data(7, 1<<20+4321)
	sum := sha256.Sum256(data)
	want := hex.EncodeToString(sum[:])
	const interval = 64 << 10
	for _, tc := range []struct {
		name       string
		failAfter  int64
		truncate   int64 // > 0: drop the state, cut the partial file to this length
		damageAt   int64 // > 0: drop the state, flip the partial file's byte there
		wantResume int64
	}{
		{"at-a-checkpoint", 8 * interval, 0, 0, 8 * interval},
		{"no-state-between-checkpoints", 5 * interval, 5*interval - 1000, 0, 5*interval - 1000},
		{"no-state-damaged", 5 * interval, 0, 3*interval + 7, 3*interval + 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			locs := locals(t, 3)
			ref := locals(t, 1)[0]
			withBackends(t, map[string]*faulty{locs[1]: {failAfter: tc.failAfter}, ref: {failAfter: tc.failAfter}})
			wo := WriteOptions{Size: int64(len(data)), Verify: true, Put: transport.PutOptions{CheckpointInterval: interval, SaveEvery: 1}}
			mo := ManyOptions{WriteOptions: wo, Buffer: interval}
			dests, err := WriteMany(context.Background(), locs, Options{}, mo, fillWith(data))
			var me *ManyError
			if !errors.As(err, &me) || me.Failed != 1 {
				t.Fatalf("error %v, want 1 destination failed", err)
			}
			for i, d := range dests {
				if i != 1 && (d.Status() != StatusVerified || d.Result.SHA256 != want) {
					t.Errorf("destination %d: %s %+v (%v), want verified with sha256 %s", i, d.Status(), d.Result, d.Err, want)
				}
			}
			if _, err := Write(context.Background(), ref, Options{}, wo, fillWith(data)); !errors.Is(err, errInjected) {
				t.Fatalf("single write: %v, want the injected fault", err)
			}
			stateOf := func(loc string) []byte {
				b, err := os.ReadFile(filepath.Join(filepath.Dir(loc), "."+filepath.Base(loc)+transport.StateSuffix))
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			if got, single := stateOf(locs[1]), stateOf(ref); string(got) != string(single) {
				t.Errorf("resume state after a fan-out:\n%s\nafter a single write:\n%s", got, single)
			}
			part := filepath.Join(filepath.Dir(locs[1]), "."+filepath.Base(locs[1])+transport.TempSuffix)
			if tc.truncate > 0 || tc.damageAt > 0 {
				if err := os.Remove(filepath.Join(filepath.Dir(locs[1]), "."+filepath.Base(locs[1])+transport.StateSuffix)); err != nil {
					t.Fatal(err)
				}
			}
			if tc.truncate > 0 {
				if err := os.Truncate(part, tc.truncate); err != nil {
					t.Fatal(err)
				}
			}
			if tc.damageAt > 0 {
				f, err := os.OpenFile(part, os.O_RDWR, 0)
				if err != nil {
					t.Fatal(err)
				}
				b := []byte{0}
				f.ReadAt(b, tc.damageAt)
				b[0] ^= 0xff
				if _, err := f.WriteAt(b, tc.damageAt); err != nil {
					t.Fatal(err)
				}
				f.Close()
			}

			testHookBackend = nil
			dests, err = WriteMany(context.Background(), locs, Options{}, mo, fillWith(data))
			if err != nil {
				t.Fatal(err)
			}
			for i, d := range dests {
				if d.Status() != StatusVerified || d.Result.SHA256 != want || d.Result.Size != int64(len(data)) {
					t.Errorf("re-run, destination %d: %s %+v (%v)", i, d.Status(), d.Result, d.Err)
				}
				checkSame(t, locs[i], data)
			}
			if r := dests[1].Result; r == nil || r.Resumed != tc.wantResume {
				t.Errorf("re-run resumed %+v, want %d bytes", r, tc.wantResume)
			}
		})
	}
}

// TestQueueReaderSHA256State: the fan-out gives a hash state only to a reader at that
// very byte of the stream, and only at a checkpoint or the end.
func TestQueueReaderSHA256State(t *testing.T) {
	f, err := newFanout(context.Background(), 1<<20, 0, 4)
	if err != nil {
		t.Fatal(err)
	}
	q := &queue{live: true}
	f.queues = []*queue{q}
	var wg sync.WaitGroup
	wg.Go(f.hashAll)
	defer wg.Wait()
	r := &queueReader{f: f, q: q}
	if _, err := f.Write([]byte("0123456789")); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.done = true
	f.cond.Broadcast()
	f.mu.Unlock()
	buf := make([]byte, 4)
	if _, err := r.SHA256State(0); err != nil {
		t.Errorf("state at 0 before reading: %v", err)
	}
	r.Read(buf)
	if _, err := r.SHA256State(8); err == nil {
		t.Error("state at byte 8 given to a reader at byte 4")
	}
	state, err := r.SHA256State(4)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	h.Write([]byte("0123"))
	if m, _ := h.(interface{ MarshalBinary() ([]byte, error) }).MarshalBinary(); string(m) != string(state) {
		t.Error("state at byte 4 is not the sha256 state of the first 4 bytes")
	}
	r.Read(buf[:3])
	if _, err := r.SHA256State(7); err == nil {
		t.Error("state given at byte 7, neither a checkpoint nor the end")
	}
	r.Read(buf)
	if _, err := r.SHA256State(10); err != nil {
		t.Errorf("state at the end: %v", err)
	}
}
