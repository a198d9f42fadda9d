package registry_test

import (
	"os"
	"testing"

	"github.com/imgx/imgx/internal/testserver"
	"github.com/imgx/imgx/registry"
)

// TestNoDescriptorLeak pulls and pushes many times in one process (as a long-running
// program using the library would) and checks the number of open files stays flat.
func TestNoDescriptorLeak(t *testing.T) {
	host := newRegistry(t, nil)
	seedImage(t, host+"/app:1", 2)
	count := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		testserver.HostCapability(t, "/proc/self/fd", err, "run on Linux with /proc mounted")
		return len(ents)
	}
	cycle := func() {
		s := newStore(t)
		if _, err := registry.Pull(ctx, s, host+"/app:1", registry.PullOptions{Options: opts()}); err != nil {
			t.Fatal(err)
		}
		p, err := registry.NewPusher(s, opts())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Push(ctx, resolve(t, s, host+"/app:1"), host+"/copy:1"); err != nil {
			t.Fatal(err)
		}
		p.Close()
	}
	cycle()
	before := count()
	for i := 0; i < 30; i++ {
		cycle()
	}
	if after := count(); after > before+5 {
		t.Errorf("open files grew from %d to %d over 30 pull+push cycles", before, after)
	}
}
