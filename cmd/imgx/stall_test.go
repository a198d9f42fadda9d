package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imgx/imgx/internal/testserver"
)

// stallFixture is a signed bundle of a few MB on a real sshd, reached
// through a proxy that can stall the link.
type stallFixture struct {
	bin, dir, url, key string
	proxy              *testserver.Proxy
	ssh                []string
	env                []string
}

func newStallFixture(t *testing.T) *stallFixture {
	t.Helper()
	testserver.RealTests(t)
	sshd := testserver.StartSSHD(t)
	f := &stallFixture{bin: imgxBin(t), dir: t.TempDir()}
	f.env = append(os.Environ(), "IMGX_PASSWORD=pw", "SSH_AUTH_SOCK=")
	sender := filepath.Join(f.dir, "sender")
	for _, args := range [][]string{
		{"keygen", "--output-prefix", filepath.Join(f.dir, "k")},
		{"--store", sender, "import", "--compress", "none", filepath.Join(f.dir, "layer.tar"), "app:1"},
		{"--store", sender, "save", "--sign-key", filepath.Join(f.dir, "k.key"), "app:1", "-o", filepath.Join(f.dir, "b.imgx")},
	} {
		if args[0] == "--store" && args[2] == "import" {
			writeRandomTar(t, args[5], 2, 2<<20)
		}
		cmd := exec.Command(f.bin, args...)
		cmd.Env = f.env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("imgx %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	f.key = filepath.Join(f.dir, "k.pub")
	f.proxy = testserver.StartProxy(t, sshd.Addr)
	// The proxy listens on another port than the one in known_hosts: the
	// URL names the proxy, known_hosts gets the host key under its address.
	kh := filepath.Join(f.dir, "known_hosts")
	testserver.WriteKnownHosts(t, kh, f.proxy.Addr, sshd.Keys.HostSigner.PublicKey())
	f.url = fmt.Sprintf("sftp://%s@%s%s/b.imgx", sshd.User, f.proxy.Addr, f.dir)
	f.ssh = []string{"--identity", sshd.Keys.ClientKey, "--known-hosts", kh, "--ssh-config", "none", "--progress", "none"}
	return f
}

func (f *stallFixture) load(store string, extra ...string) *exec.Cmd {
	args := append([]string{"--store", store, "load", "--key", f.key, "-i", f.url}, f.ssh...)
	cmd := exec.Command(f.bin, append(args, extra...)...)
	cmd.Env = f.env
	return cmd
}

// TestSignalDuringStalledLoad: SIGTERM or SIGINT to `imgx load -i sftp://…`
// or `imgx save -o sftp://…` whose link went silent (a proxy that stops forwarding, no FIN, no RST)
// ends it within a few seconds, exit code 130, the store consistent. The
// idle timeout is left at its default (30s), so it is the signal that ends
// the load, not the timeout. Before the fix imgx waited for more than ten
// minutes and only SIGKILL ended it.
func TestSignalDuringStalledLoad(t *testing.T) {
	f := newStallFixture(t)
	for _, op := range []string{"load", "save"} {
		for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
			t.Run(op+"/"+sig.String(), func(t *testing.T) {
				f.proxy.StallAfter.Store(1 << 20) // every connection, in the middle of the bundle
				defer f.proxy.StallAfter.Store(0)
				stalls := f.proxy.Stalls.Load()
				store := filepath.Join(t.TempDir(), "store")
				cmd := f.load(store)
				if op == "save" {
					store = filepath.Join(f.dir, "sender")
					args := append([]string{"--store", store, "save", "--sign-key", filepath.Join(f.dir, "k.key"), "app:1",
						"-o", strings.TrimSuffix(f.url, "b.imgx") + "up.imgx"}, f.ssh...)
					cmd = exec.Command(f.bin, args...)
					cmd.Env = f.env
				}
				var out bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &out
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				deadline := time.Now().Add(30 * time.Second)
				for f.proxy.Stalls.Load() == stalls && time.Now().Before(deadline) {
					time.Sleep(20 * time.Millisecond)
				}
				if f.proxy.Stalls.Load() == stalls {
					cmd.Process.Kill()
					t.Fatalf("the link never stalled:\n%s", out.String())
				}
				time.Sleep(300 * time.Millisecond) // imgx is now blocked on the silent link
				sent := time.Now()
				cmd.Process.Signal(sig)
				done := make(chan error, 1)
				go func() { done <- cmd.Wait() }()
				select {
				case err := <-done:
					took := time.Since(sent)
					code := cmd.ProcessState.ExitCode()
					t.Logf("exited %d after %v: %v\n%s", code, took, err, out.String())
					if took > 5*time.Second {
						t.Errorf("took %v after %v to exit", took, sig)
					}
					if code != 130 || !strings.Contains(out.String(), "interrupted") {
						t.Errorf("exit code %d, want 130 with \"interrupted\":\n%s", code, out.String())
					}
				case <-time.After(15 * time.Second):
					cmd.Process.Kill()
					<-done
					t.Fatalf("still running 15s after %v:\n%s", sig, out.String())
				}
				check := exec.Command(f.bin, "--store", store, "check")
				if out, err := check.CombinedOutput(); err != nil {
					t.Fatalf("store inconsistent after %v: %v\n%s", sig, err, out)
				}
				if _, err := os.Stat(filepath.Join(f.dir, "up.imgx")); err == nil {
					t.Fatal("an interrupted save published up.imgx")
				}
			})
		}
	}
}

// TestStalledLoad: a load whose link goes silent once resumes on a new
// connection after the idle timeout and completes; one whose link goes
// silent while the server vanishes ends with an error once its retries
// are spent, instead of hanging. (A link that stalls again and again but
// moves some data each time goes on: progress resets the retry count.)
func TestStalledLoad(t *testing.T) {
	f := newStallFixture(t)
	t.Run("once", func(t *testing.T) {
		f.proxy.FaultNext(testserver.Fault{Stall: 1 << 20})
		stalls := f.proxy.Stalls.Load()
		start := time.Now()
		out, err := f.load(filepath.Join(t.TempDir(), "store"), "--idle-timeout", "1s").CombinedOutput()
		if err != nil {
			t.Fatalf("load through one stall: %v\n%s", err, out)
		}
		if f.proxy.Stalls.Load() != stalls+1 {
			t.Fatalf("%d stalls, want 1", f.proxy.Stalls.Load()-stalls)
		}
		if took := time.Since(start); took > 15*time.Second {
			t.Errorf("took %v with a 1s idle timeout", took)
		}
		t.Logf("resumed after a stall in %v:\n%s", time.Since(start), out)
	})
	t.Run("then gone", func(t *testing.T) {
		// The link stalls, and the server cannot be reached any more.
		f.proxy.FaultNext(testserver.Fault{Stall: 1 << 20})
		defer f.proxy.Refuse.Store(false)
		stalls := f.proxy.Stalls.Load()
		go func() {
			for f.proxy.Stalls.Load() == stalls {
				time.Sleep(10 * time.Millisecond)
			}
			f.proxy.Refuse.Store(true)
		}()
		start := time.Now()
		out, err := f.load(filepath.Join(t.TempDir(), "store"), "--idle-timeout", "1s", "--retries", "2").CombinedOutput()
		took := time.Since(start)
		if err == nil {
			t.Fatalf("load through a stall and a vanished server succeeded:\n%s", out)
		}
		// a 1s stall, then two retries after about 0.5s and 1s
		if took > 10*time.Second {
			t.Errorf("took %v to give up with a 1s idle timeout and 2 retries", took)
		}
		if !strings.Contains(string(out), "gave up after 2 retries") {
			t.Errorf("the error does not say the retries were spent:\n%s", out)
		}
		t.Logf("gave up after %v:\n%s", took, out)
	})
}

// TestCutLoad cuts the connection of `imgx load -i sftp://…` once at
// several offsets of a 4 MB bundle, inside SSH packets: with the default
// retries every load completes (before the fix, most failed with
// "connection lost": the bytes that came with the error were passed on
// with it).
func TestCutLoad(t *testing.T) {
	f := newStallFixture(t)
	for _, off := range []int64{20_011, 500_001, 1_048_579, 2_000_003, 3_500_017} {
		t.Run(fmt.Sprint(off), func(t *testing.T) {
			f.proxy.FaultNext(testserver.Fault{Cut: off})
			cuts := f.proxy.Cuts.Load()
			out, err := f.load(filepath.Join(t.TempDir(), "store")).CombinedOutput()
			if err != nil {
				t.Fatalf("load through a cut at %d: %v\n%s", off, err, out)
			}
			if f.proxy.Cuts.Load() != cuts+1 || !strings.Contains(string(out), "Loaded image: app:1") {
				t.Fatalf("%d cuts, want 1:\n%s", f.proxy.Cuts.Load()-cuts, out)
			}
		})
	}
}
