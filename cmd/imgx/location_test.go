package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgx/imgx/internal/testutil"
	"github.com/imgx/imgx/transport"
	"github.com/imgx/imgx/transport/transporttest"
)

// TestLocalOutputResume: issue 12 defect 3. A save to a local path that is interrupted
// resumes on the next run instead of starting over: the second run writes only what the
// first did not, and the result is byte-identical to an uninterrupted write.
func TestLocalOutputResume(t *testing.T) {
	putTuning = transport.PutOptions{CheckpointInterval: 64 << 10, SaveEvery: 1}
	t.Cleanup(func() { putTuning = transport.PutOptions{} })
	data := transporttest.Data(7, 1<<20+12345)
	dir := t.TempDir()
	out := filepath.Join(dir, "x.imgx")
	var stderr bytes.Buffer
	e := &Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &stderr}
	tf := &transportFlags{progress: "none"}
	fill := func(w io.Writer) error {
		_, err := io.Copy(w, bytes.NewReader(data))
		return err
	}

	ctx, cancel := context.WithCancel(context.Background())
	fillCut := func(w io.Writer) error {
		for off := 0; off < len(data); off += 10000 {
			if off >= 700<<10 {
				cancel() // Ctrl-C, or the machine going down
				return ctx.Err()
			}
			if _, err := w.Write(data[off:min(off+10000, len(data))]); err != nil {
				return err
			}
		}
		return nil
	}
	if _, err := writeLocation(ctx, e, out, tf, int64(len(data)), false, fillCut); err == nil {
		t.Fatal("interrupted write succeeded")
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("interrupted write published %s: %v", out, err)
	}
	part, err := os.Stat(filepath.Join(dir, ".x.imgx"+transport.TempSuffix))
	if err != nil || part.Size() == 0 {
		t.Fatalf("no partial file kept: %v", err)
	}

	res, err := writeLocation(context.Background(), e, out, tf, int64(len(data)), true, fill)
	if err != nil {
		t.Fatal(err)
	}
	written := res.Size - res.Resumed
	t.Logf("second run: %d of %d bytes written, %d resumed (partial file had %d)", written, res.Size, res.Resumed, part.Size())
	if res.Resumed < 512<<10 || res.Resumed > part.Size() || written >= int64(len(data)) {
		t.Errorf("second run resumed %d bytes (partial %d), wrote %d of %d: did not resume", res.Resumed, part.Size(), written, len(data))
	}
	got, _ := os.ReadFile(out)
	if !bytes.Equal(got, data) {
		t.Fatal("resumed output differs from an uninterrupted write")
	}
	if !strings.Contains(stderr.String(), "resumed an interrupted upload") {
		t.Errorf("stderr %q does not say it resumed", stderr.String())
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".*")); len(leftovers) != 0 {
		t.Errorf("leftovers after the resumed write: %q", leftovers)
	}
}

// TestHostileSaveTempLink: links planted on the carrier at the temporary or resume-state
// name of `save -o` are refused with an error that says what to remove; the link's
// target is untouched and nothing is published.
func TestHostileSaveTempLink(t *testing.T) {
	for _, planted := range []string{".x.imgx" + transport.TempSuffix, ".x.imgx" + transport.StateSuffix} {
		t.Run(planted, func(t *testing.T) {
			out := t.TempDir()
			victim := filepath.Join(out, "victim.conf")
			os.WriteFile(victim, []byte("precious\n"), 0o644)
			before := testutil.TreeHash(t, out)
			dir := t.TempDir()
			if strings.HasSuffix(planted, transport.StateSuffix) {
				os.WriteFile(filepath.Join(dir, ".x.imgx"+transport.TempSuffix), []byte("partial"), 0o644)
			}
			os.Symlink(victim, filepath.Join(dir, planted))
			e := &Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: io.Discard}
			_, err := writeLocation(context.Background(), e, filepath.Join(dir, "x.imgx"), &transportFlags{progress: "none"}, 0, false, func(w io.Writer) error {
				_, err := w.Write(bytes.Repeat([]byte("bundle"), 1000))
				return err
			})
			if err == nil || !strings.Contains(err.Error(), "symbolic link") || !strings.Contains(err.Error(), "remove "+filepath.Join(dir, planted)) {
				t.Errorf("save through a planted link: %v, want a refusal naming the file to remove", err)
			}
			if after := testutil.TreeHash(t, out); after != before {
				t.Errorf("written through the link:\n%s", after)
			}
			if _, err := os.Lstat(filepath.Join(dir, "x.imgx")); !os.IsNotExist(err) {
				t.Errorf("published: %v", err)
			}
		})
	}
}
