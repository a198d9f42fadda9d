package transporttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/imgx/imgx/transport"
)

// Run runs every conformance test as a subtest of t. newBackend returns an
// empty backend; Run closes it when the subtest ends.
func Run(t *testing.T, newBackend func(t *testing.T) transport.Backend) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b transport.Backend)
	}{
		{"WriteRead", testWriteRead},
		{"ReadAtOffset", testReadAtOffset},
		{"Stat", testStat},
		{"List", testList},
		{"ListStops", testListStops},
		{"AtomicPublish", testAtomicPublish},
		{"Overwrite", testOverwrite},
		{"Missing", testMissing},
		{"BadNames", testBadNames},
		{"CancelledContext", testCancelledContext},
		{"ResumeUpload", testResumeUpload},
		{"ResumeUploadDiverged", testResumeDiverged},
		{"ResumeDownload", testResumeDownload},
		{"Discard", testDiscard},
		{"RemoveRename", testRemoveRename},
		{"Empty", testEmpty},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackend(t)
			t.Cleanup(func() { b.Close() })
			tc.fn(t, b)
		})
	}
}

// Data returns n pseudo-random bytes, the same for the same seed.
func Data(seed uint64, n int) []byte {
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16)})
	b := make([]byte, n)
	r.Read(b)
	return b
}

// small checkpoints so resume is exercised with little data
var putOpts = transport.PutOptions{CheckpointInterval: 64 << 10, SaveEvery: 1}

func put(t *testing.T, b transport.Backend, name string, data []byte) {
	t.Helper()
	res, err := transport.Put(context.Background(), b, name, bytes.NewReader(data), putOpts)
	if err != nil {
		t.Fatalf("put %s: %v", name, err)
	}
	if res.Size != int64(len(data)) {
		t.Fatalf("put %s: size %d, want %d", name, res.Size, len(data))
	}
}

// ReadAll reads name from offset to the end.
func ReadAll(t *testing.T, b transport.Backend, name string, offset int64) []byte {
	t.Helper()
	rd, err := b.Open(context.Background(), name, offset)
	if err != nil {
		t.Fatalf("open %s at %d: %v", name, offset, err)
	}
	defer rd.Close()
	data, err := io.ReadAll(rd)
	if err != nil {
		t.Fatalf("read %s at %d: %v", name, offset, err)
	}
	return data
}

func mustEqual(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("%s: %d bytes, want %d, first difference at byte %d", what, len(got), len(want), i)
	}
}

func names(t *testing.T, b transport.Backend, dir string) []string {
	t.Helper()
	var out []string
	err := b.List(context.Background(), dir, func(fi transport.FileInfo) error {
		out = append(out, fi.Name)
		return nil
	})
	if err != nil {
		t.Fatalf("list %q: %v", dir, err)
	}
	sort.Strings(out)
	return out
}

func testWriteRead(t *testing.T, b transport.Backend) {
	for _, n := range []int{1, 1000, 3<<20 + 17} {
		data := Data(uint64(n), n)
		name := fmt.Sprintf("f%d.imgx", n)
		put(t, b, name, data)
		mustEqual(t, name, ReadAll(t, b, name, 0), data)
	}
}

func testEmpty(t *testing.T, b transport.Backend) {
	put(t, b, "empty", nil)
	fi, err := b.Stat(context.Background(), "empty")
	if err != nil || fi.Size != 0 {
		t.Fatalf("stat empty: %+v, %v", fi, err)
	}
	mustEqual(t, "empty", ReadAll(t, b, "empty", 0), nil)
}

func testReadAtOffset(t *testing.T, b transport.Backend) {
	data := Data(1, 1<<20+3)
	put(t, b, "x", data)
	for _, off := range []int64{0, 1, 4095, 65536, 1 << 19, int64(len(data)) - 1, int64(len(data))} {
		mustEqual(t, fmt.Sprintf("offset %d", off), ReadAll(t, b, "x", off), data[off:])
	}
}

func testStat(t *testing.T, b transport.Backend) {
	data := Data(2, 12345)
	put(t, b, "s.imgx", data)
	fi, err := b.Stat(context.Background(), "s.imgx")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Name != "s.imgx" || fi.Size != 12345 || fi.IsDir {
		t.Fatalf("stat: %+v", fi)
	}
}

func testList(t *testing.T, b transport.Backend) {
	ctx := context.Background()
	put(t, b, "a", []byte("a"))
	put(t, b, "b", []byte("bb"))
	put(t, b, "sub-src", []byte("c"))
	if err := b.Rename(ctx, "sub-src", "sub/c"); err != nil {
		t.Fatal(err)
	}
	// an unfinished upload must stay invisible
	u, err := b.Create(ctx, "partial")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Write([]byte("half")); err != nil {
		t.Fatal(err)
	}
	if err := u.Checkpoint(ctx, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if err := u.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := names(t, b, ""), []string{"a", "b", "sub"}; !slices.Equal(got, want) {
		t.Fatalf("list root: %q, want %q", got, want)
	}
	if got, want := names(t, b, "sub"), []string{"c"}; !slices.Equal(got, want) {
		t.Fatalf("list sub: %q, want %q", got, want)
	}
	sizes := map[string]int64{}
	dirs := map[string]bool{}
	b.List(ctx, "", func(fi transport.FileInfo) error {
		sizes[fi.Name], dirs[fi.Name] = fi.Size, fi.IsDir
		return nil
	})
	if sizes["b"] != 2 || !dirs["sub"] || dirs["a"] {
		t.Fatalf("list details: sizes %v dirs %v", sizes, dirs)
	}
	err = b.List(ctx, "nope", func(transport.FileInfo) error { return nil })
	if !b.IsNotExist(err) {
		t.Fatalf("list missing dir: %v, want not-exist", err)
	}
}

func testListStops(t *testing.T, b transport.Backend) {
	for i := range 5 {
		put(t, b, fmt.Sprintf("f%d", i), []byte{byte(i)})
	}
	stop := errors.New("stop")
	calls := 0
	err := b.List(context.Background(), "", func(transport.FileInfo) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("list: err %v after %d calls, want stop after 1", err, calls)
	}
}

func testAtomicPublish(t *testing.T, b transport.Backend) {
	ctx := context.Background()
	old := Data(3, 1000)
	put(t, b, "pub.imgx", old)
	u, err := b.Create(ctx, "pub.imgx")
	if err != nil {
		t.Fatal(err)
	}
	if u.Offset() != 0 {
		t.Fatalf("fresh upload offset %d", u.Offset())
	}
	data := Data(4, 200<<10)
	if _, err := u.Write(data[:100<<10]); err != nil {
		t.Fatal(err)
	}
	check := func(when string, want []byte) {
		t.Helper()
		fi, err := b.Stat(ctx, "pub.imgx")
		if err != nil || fi.Size != int64(len(want)) {
			t.Fatalf("%s: stat %+v %v, want size %d", when, fi, err, len(want))
		}
		mustEqual(t, when, ReadAll(t, b, "pub.imgx", 0), want)
		if got := names(t, b, ""); !slices.Equal(got, []string{"pub.imgx"}) {
			t.Fatalf("%s: list %q", when, got)
		}
	}
	check("during upload", old)
	if _, err := u.Write(data[100<<10:]); err != nil {
		t.Fatal(err)
	}
	check("before commit", old)
	if err := u.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	check("after commit", data)
	if err := u.Commit(ctx); err == nil {
		t.Fatal("second commit succeeded")
	}
	// a new name does not exist until commit
	u, err = b.Create(ctx, "new.imgx")
	if err != nil {
		t.Fatal(err)
	}
	u.Write(data)
	if _, err := b.Stat(ctx, "new.imgx"); !b.IsNotExist(err) {
		t.Fatalf("stat of uncommitted upload: %v", err)
	}
	if err := u.Discard(ctx); err != nil {
		t.Fatal(err)
	}
}

func testOverwrite(t *testing.T, b transport.Backend) {
	ctx := context.Background()
	put(t, b, "o", Data(5, 5000))
	second := Data(6, 300)
	put(t, b, "o", second)
	mustEqual(t, "overwritten", ReadAll(t, b, "o", 0), second)
	_, err := transport.Put(ctx, b, "o", bytes.NewReader(Data(7, 10)), transport.PutOptions{NoOverwrite: true})
	if !errors.Is(err, fs.ErrExist) || !b.IsPermanent(err) {
		t.Fatalf("put no-overwrite: %v, want permanent fs.ErrExist", err)
	}
	mustEqual(t, "kept", ReadAll(t, b, "o", 0), second)
	put(t, b, "p", []byte("p"))
	if err := b.Rename(ctx, "p", "o"); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("rename onto existing: %v, want fs.ErrExist", err)
	}
	mustEqual(t, "rename target kept", ReadAll(t, b, "o", 0), second)
	mustEqual(t, "rename source kept", ReadAll(t, b, "p", 0), []byte("p"))
}

func testMissing(t *testing.T, b transport.Backend) {
	ctx := context.Background()
	check := func(op string, err error) {
		t.Helper()
		if !b.IsNotExist(err) || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s of missing file: %v, want not-exist", op, err)
		}
		if !b.IsPermanent(err) {
			t.Errorf("%s of missing file: %v not permanent", op, err)
		}
	}
	_, err := b.Stat(ctx, "missing")
	check("stat", err)
	_, err = b.Open(ctx, "missing", 0)
	check("open", err)
	check("remove", b.Remove(ctx, "missing"))
	check("rename", b.Rename(ctx, "missing", "other"))
	_, err = b.Create(ctx, "no/such/dir/x")
	if err == nil {
		// some servers only fail on the first write or at commit
		_, err = transport.Put(ctx, b, "no/such/dir/x", bytes.NewReader([]byte("x")), transport.PutOptions{})
	}
	if err == nil || !b.IsPermanent(err) {
		t.Errorf("create in missing directory: %v, want permanent error", err)
	}
}

func testBadNames(t *testing.T, b transport.Backend) {
	ctx := context.Background()
	// Names a hostile listing could hand back: separators, control characters (a newline
	// forges log lines), backslashes (a separator on some servers), over-long names.
	for _, name := range []string{"", "/abs", "../up", "a/../../up", "a//b", ".x" + transport.TempSuffix, "d/.x" + transport.StateSuffix,
		"a\nb", "x\x1b[2J", `..\up`, "d/a\x00b", strings.Repeat("n", transport.MaxNameBytes+1)} {
		if _, err := b.Create(ctx, name); !errors.Is(err, transport.ErrBadName) {
			t.Errorf("create %q: %v, want ErrBadName", name, err)
		}
		if _, err := b.Stat(ctx, name); !errors.Is(err, transport.ErrBadName) {
			t.Errorf("stat %q: %v, want ErrBadName", name, err)
		}
		if err := b.Remove(ctx, name); !errors.Is(err, transport.ErrBadName) {
			t.Errorf("remove %q: %v, want ErrBadName", name, err)
		}
		if err := b.Rename(ctx, "x", name); !errors.Is(err, transport.ErrBadName) {
			t.Errorf("rename to %q: %v, want ErrBadName", name, err)
		}
		if _, err := b.Open(ctx, name, 0); !errors.Is(err, transport.ErrBadName) {
			t.Errorf("open %q: %v, want ErrBadName", name, err)
		}
	}
}

// cancelAfter cancels ctx once n bytes have been read through it.
type cancelAfter struct {
	r      io.Reader
	n      int
	cancel func()
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	if c.n <= 0 {
		c.cancel()
	}
	if len(p) > c.n && c.n > 0 {
		p = p[:c.n]
	}
	n, err := c.r.Read(p)
	c.n -= n
	return n, err
}

func testCancelledContext(t *testing.T, b transport.Backend) {
	put(t, b, "c", []byte("content"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	check := func(op string, err error) {
		t.Helper()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with cancelled context: %v, want context.Canceled", op, err)
		}
	}
	_, err := b.Stat(ctx, "c")
	check("stat", err)
	_, err = b.Open(ctx, "c", 0)
	check("open", err)
	_, err = b.Create(ctx, "d")
	check("create", err)
	check("list", b.List(ctx, "", func(transport.FileInfo) error { return nil }))
	check("remove", b.Remove(ctx, "c"))
	check("rename", b.Rename(ctx, "c", "e"))
	_, err = transport.Put(ctx, b, "d", bytes.NewReader([]byte("x")), transport.PutOptions{})
	check("put", err)

	// cancelled in the middle of an upload: nothing is published
	data := Data(8, 1<<20)
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	_, err = transport.Put(ctx, b, "mid", &cancelAfter{r: bytes.NewReader(data), n: 300 << 10, cancel: cancel}, putOpts)
	check("put cancelled midway", err)
	if _, err := b.Stat(context.Background(), "mid"); !b.IsNotExist(err) {
		t.Fatalf("stat after cancelled put: %v", err)
	}
	// and a reader stops once cancelled
	put(t, b, "big", data)
	ctx, cancel = context.WithCancel(context.Background())
	rd, err := b.Open(ctx, "big", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	buf := make([]byte, 1000)
	if _, err := io.ReadFull(rd, buf); err != nil {
		t.Fatal(err)
	}
	cancel()
	_, err = io.Copy(io.Discard, rd)
	check("read after cancel", err)
}

// failAfter returns errBroken once n bytes have been read.
type failAfter struct {
	r io.Reader
	n int
}

var errBroken = errors.New("source broke")

func (f *failAfter) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errBroken
	}
	if len(p) > f.n {
		p = p[:f.n]
	}
	n, err := f.r.Read(p)
	f.n -= n
	return n, err
}

// readsBack tells whether b's uploads can be read back (transport.PartialReader), so
// that Put resumes past the last checkpoint by comparison.
func readsBack(t *testing.T, b transport.Backend) bool {
	t.Helper()
	ctx := context.Background()
	u, err := b.Create(ctx, "probe-partial-reader")
	if err != nil {
		t.Fatal(err)
	}
	_, ok := u.(transport.PartialReader)
	if err := u.Discard(ctx); err != nil && !b.IsNotExist(err) { // a server may create nothing before the first write
		t.Fatal(err)
	}
	return ok
}

func testResumeUpload(t *testing.T, b transport.Backend) {
	ctx := context.Background()
	data := Data(9, 1<<20+5)
	for i, cut := range []int{100, 64 << 10, 300<<10 + 7, 1 << 20} {
		name := fmt.Sprintf("r%d", i)
		_, err := transport.Put(ctx, b, name, &failAfter{bytes.NewReader(data), cut}, putOpts)
		if !errors.Is(err, errBroken) {
			t.Fatalf("cut at %d: %v, want source error", cut, err)
		}
		if _, err := b.Stat(ctx, name); !b.IsNotExist(err) {
			t.Fatalf("cut at %d: partial upload visible: %v", cut, err)
		}
		res, err := transport.Put(ctx, b, name, bytes.NewReader(data), putOpts)
		if err != nil {
			t.Fatalf("resume after cut at %d: %v", cut, err)
		}
		wantResumed := int64(cut) / putOpts.CheckpointInterval * putOpts.CheckpointInterval
		if readsBack(t, b) {
			wantResumed = int64(cut) // the partial file is compared: every byte that reached it
		}
		if res.Resumed != wantResumed {
			t.Errorf("cut at %d: resumed %d bytes, want %d", cut, res.Resumed, wantResumed)
		}
		mustEqual(t, name, ReadAll(t, b, name, 0), data)
		if got := names(t, b, ""); !slices.Contains(got, name) {
			t.Fatalf("list after resume: %q", got)
		}
	}
	// a later resume that asks for a fresh start
	_, _ = transport.Put(ctx, b, "n", &failAfter{bytes.NewReader(data), 200 << 10}, putOpts)
	o := putOpts
	o.NoResume = true
	res, err := transport.Put(ctx, b, "n", bytes.NewReader(data), o)
	if err != nil || res.Resumed != 0 {
		t.Fatalf("no-resume: %+v %v", res, err)
	}
	mustEqual(t, "no-resume", ReadAll(t, b, "n", 0), data)
}

func testResumeDiverged(t *testing.T, b transport.Backend) {
	ctx := context.Background()
	first := Data(10, 1<<20)
	second := bytes.Clone(first)
	second[200<<10+3] ^= 1 // differs inside the fourth interval
	second = append(second, 'x')
	_, err := transport.Put(ctx, b, "d", &failAfter{bytes.NewReader(first), 600 << 10}, putOpts)
	if !errors.Is(err, errBroken) {
		t.Fatal(err)
	}
	res, err := transport.Put(ctx, b, "d", bytes.NewReader(second), putOpts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed != 192<<10 {
		t.Errorf("resumed %d, want %d (up to the interval that differs)", res.Resumed, 192<<10)
	}
	mustEqual(t, "diverged", ReadAll(t, b, "d", 0), second)
	// a different stream from the first byte
	_, _ = transport.Put(ctx, b, "e", &failAfter{bytes.NewReader(first), 600 << 10}, putOpts)
	other := Data(11, 100<<10)
	res, err = transport.Put(ctx, b, "e", bytes.NewReader(other), putOpts)
	if err != nil || res.Resumed != 0 {
		t.Fatalf("unrelated stream: %+v %v", res, err)
	}
	mustEqual(t, "unrelated", ReadAll(t, b, "e", 0), other)
}

func testResumeDownload(t *testing.T, b transport.Backend) {
	ctx := context.Background()
	data := Data(12, 700<<10+1)
	put(t, b, "g", data)
	dir := t.TempDir()
	for i, pre := range [][]byte{nil, data[:1], data[:300<<10], data, append(bytes.Clone(data), 'z')} {
		p := filepath.Join(dir, fmt.Sprint(i))
		if err := os.WriteFile(p, pre, 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		n, err := transport.Get(ctx, b, "g", f, transport.GetOptions{})
		f.Close()
		if err != nil || n != int64(len(data)) {
			t.Fatalf("get with %d bytes present: %d, %v", len(pre), n, err)
		}
		got, _ := os.ReadFile(p)
		mustEqual(t, fmt.Sprintf("download with %d bytes present", len(pre)), got, data)
	}
}

func testDiscard(t *testing.T, b transport.Backend) {
	ctx := context.Background()
	u, err := b.Create(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	u.Write([]byte("abc"))
	u.Checkpoint(ctx, []byte("state"))
	if err := u.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	u, err = b.Create(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	if u.Offset() != 3 || string(u.State()) != "state" {
		t.Fatalf("resumed upload: offset %d state %q", u.Offset(), u.State())
	}
	if err := u.Discard(ctx); err != nil {
		t.Fatal(err)
	}
	u, err = b.Create(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	if u.Offset() != 0 || u.State() != nil {
		t.Fatalf("after discard: offset %d state %q", u.Offset(), u.State())
	}
	u.Discard(ctx)
	if got := names(t, b, ""); len(got) != 0 {
		t.Fatalf("list after discard: %q", got)
	}
}

func testRemoveRename(t *testing.T, b transport.Backend) {
	ctx := context.Background()
	data := Data(13, 4096)
	put(t, b, "m", data)
	if err := b.Rename(ctx, "m", "done/m"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Stat(ctx, "m"); !b.IsNotExist(err) {
		t.Fatalf("old name after rename: %v", err)
	}
	mustEqual(t, "renamed", ReadAll(t, b, "done/m", 0), data)
	put(t, b, "m2", data)
	if err := b.Rename(ctx, "m2", "done/m2"); err != nil { // done/ exists now
		t.Fatal(err)
	}
	if err := b.Remove(ctx, "done/m"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Stat(ctx, "done/m"); !b.IsNotExist(err) {
		t.Fatalf("after remove: %v", err)
	}
	if got := names(t, b, "done"); !slices.Equal(got, []string{"m2"}) {
		t.Fatalf("list done: %q", got)
	}
}
