package bundle

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/internal/storetest"
	"github.com/imgx/imgx/verify"
)

// rawLayer is a layer blob stored as is, with the diff ID its config claims.
type rawLayer struct {
	mediaType string
	blob      []byte
	diffID    digest.Digest
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// gzLayer is a correct gzip layer of spec; plainLayer an uncompressed one.
func gzLayer(t testing.TB, l layerSpec) rawLayer {
	raw := layerTar(t, l)
	return rawLayer{ocispec.MediaTypeImageLayerGzip, gzipBytes(raw), digest.FromBytes(raw)}
}

func plainLayer(t testing.TB, l layerSpec) rawLayer {
	raw := layerTar(t, l)
	return rawLayer{ocispec.MediaTypeImageLayer, raw, digest.FromBytes(raw)}
}

// addRawImage stores an image of the given layers, whose config lists their diff IDs as
// given (right or wrong), and tags it.
func addRawImage(t testing.TB, s *storeT, tag string, layers ...rawLayer) {
	t.Helper()
	var ls []storetest.Layer
	for _, l := range layers {
		ls = append(ls, storetest.Layer{MediaType: l.mediaType, Blob: l.blob, DiffID: l.diffID})
	}
	storetest.Image(t, s, tag, ls...)
}

// rawBundle saves an image of layers as a bundle.
func rawBundle(t testing.TB, opts SaveOptions, layers ...rawLayer) []byte {
	t.Helper()
	s := newStore(t)
	addRawImage(t, s, "example/raw:1", layers...)
	return save(t, s, []string{"example/raw:1"}, opts)
}

// reportSummary is what must not depend on how Verify read the layers.
func reportSummary(rep *Report) string {
	if rep == nil {
		return "<no report>"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "checked %d, unpacked %d, bytes %d\n", rep.BlobsChecked, rep.LayersUnpacked, rep.Bytes)
	for _, p := range rep.Problems {
		fmt.Fprintf(&b, "problem: %v\n", p)
	}
	return b.String()
}

func TestAssignJobs(t *testing.T) {
	mk := func(sizes ...int64) []*layerJob {
		var js []*layerJob
		for i, s := range sizes {
			js = append(js, &layerJob{index: i, desc: ocispec.Descriptor{Size: s}})
		}
		return js
	}
	show := func(ws [][]*layerJob) [][]int {
		var out [][]int
		for _, w := range ws {
			var ix []int
			for _, j := range w {
				ix = append(ix, j.index)
			}
			out = append(out, ix)
		}
		return out
	}
	tests := []struct {
		name    string
		sizes   []int64
		workers int
		want    [][]int
	}{
		{name: "none", sizes: nil, workers: 2, want: nil},
		{name: "one layer, two workers", sizes: []int64{5}, workers: 2, want: [][]int{{0}}},
		{name: "one worker takes all in order", sizes: []int64{1, 9, 3}, workers: 1, want: [][]int{{0, 1, 2}}},
		// The bench image: five real layers and a bigger random one.
		{name: "bench shape", sizes: []int64{136, 107, 120, 200, 110, 125}, workers: 2, want: [][]int{{1, 2, 3}, {0, 4, 5}}}, // 427 and 371
		{name: "equal sizes alternate", sizes: []int64{4, 4, 4, 4}, workers: 2, want: [][]int{{0, 2}, {1, 3}}},
		{name: "one huge layer alone", sizes: []int64{1, 100, 2, 3}, workers: 2, want: [][]int{{1}, {0, 2, 3}}},
		{name: "more workers than layers", sizes: []int64{1, 2}, workers: 8, want: [][]int{{1}, {0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := show(assignJobs(mk(tt.sizes...), tt.workers))
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("assignJobs(%v, %d) = %v, want %v", tt.sizes, tt.workers, got, tt.want)
			}
		})
	}
}

// withProcs makes Verify use at least n workers for the test.
func withProcs(t *testing.T, n int) {
	if runtime.GOMAXPROCS(0) >= n {
		return
	}
	old := runtime.GOMAXPROCS(n)
	t.Cleanup(func() { runtime.GOMAXPROCS(old) })
}

// TestVerifyRereadSameReport: a bundle read again by offset (VerifyOptions.At, the path of
// a local file) gives the same report as the one sequential pass, problem for problem and
// in the same order, good or damaged, and really takes the re-reading path.
func TestVerifyRereadSameReport(t *testing.T) {
	withProcs(t, 2)
	ctx := context.Background()
	k := key(t, 1)
	trust := verify.Policy{Keys: []verify.PublicKey{k.pub}}
	big := gzLayer(t, layerSpec{seed: 1, size: 3 << 20, mixed: true})
	rnd := gzLayer(t, layerSpec{seed: 2, size: 2 << 20, random: true})
	small := gzLayer(t, layerSpec{seed: 3, size: 10 << 10})
	plain := plainLayer(t, layerSpec{seed: 4, size: 100 << 10})
	wrong := func(l rawLayer) rawLayer { l.diffID = digest.FromString("not it"); return l }
	corrupt := func(l rawLayer) rawLayer {
		l.blob = slices.Clone(l.blob)
		copy(l.blob[len(l.blob)/2:], bytes.Repeat([]byte{0xff}, 64))
		return l
	}
	signed := SaveOptions{Signers: []crypto.Signer{k.priv}}
	good := rawBundle(t, signed, big, rnd, small, plain)
	goodPlain := rawBundle(t, SaveOptions{Compression: None, Signers: []crypto.Signer{k.priv}}, big, rnd, small, plain)
	bad := rawBundle(t, signed, wrong(big), rnd, corrupt(small), wrong(plain))
	badPlain := rawBundle(t, SaveOptions{Compression: None, Signers: []crypto.Signer{k.priv}}, wrong(big), rnd, corrupt(small), wrong(plain))
	unsigned := rawBundle(t, SaveOptions{}, big, wrong(rnd))
	flipped := flipByte(badPlain, bytes.Index(badPlain, small.blob[:64])+1000) // small's digest fails in both reads

	type tc struct {
		name    string
		data    []byte
		policy  verify.Policy
		ok      bool
		readers int // LayerReaders wanted
	}
	tests := []tc{
		{name: "good zstd", data: good, policy: trust, ok: true, readers: 2},
		{name: "good plain", data: goodPlain, policy: trust, ok: true, readers: 2},
		{name: "diff IDs and deflate wrong zstd", data: bad, policy: trust, readers: 2},
		{name: "diff IDs and deflate wrong plain", data: badPlain, policy: trust, readers: 2},
		{name: "bad signature still unpacks", data: unsigned, policy: trust, readers: 2},
		{name: "layer digest fails in both reads", data: flipped, policy: trust, readers: 2},
		{name: "trailing data", data: append(slices.Clone(goodPlain), "not zeros"...), policy: trust, readers: 2},
	}
	for _, f := range []int{1, 3, 5, 7, 9} {
		tests = append(tests, tc{name: fmt.Sprintf("truncated at %d/10", f), data: badPlain[:len(badPlain)*f/10], policy: trust, readers: -1})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seq, serr := Verify(ctx, bytes.NewReader(tt.data), VerifyOptions{Policy: tt.policy})
			par, perr := Verify(ctx, bytes.NewReader(tt.data), VerifyOptions{Policy: tt.policy, At: bytes.NewReader(tt.data)})
			if (serr == nil) != tt.ok || (perr == nil) != tt.ok {
				t.Fatalf("sequential: %v\nre-read: %v\nwant ok=%v", serr, perr, tt.ok)
			}
			if a, b := reportSummary(seq), reportSummary(par); a != b {
				t.Fatalf("reports differ:\nsequential:\n%s\nre-read:\n%s", a, b)
			}
			if seq != nil && seq.LayerReaders != 0 {
				t.Fatalf("sequential pass: LayerReaders = %d", seq.LayerReaders)
			}
			if tt.readers >= 0 && (par == nil || par.LayerReaders != tt.readers) {
				t.Fatalf("re-read: LayerReaders = %v, want %d", par, tt.readers)
			}
			if !tt.ok && !errors.Is(perr, ErrImage) && !errors.Is(perr, ErrDigest) && !errors.Is(perr, ErrTruncated) && !errors.Is(perr, ErrSignature) && !errors.Is(perr, ErrMalformed) {
				t.Fatalf("re-read error %v: not a bundle error", perr)
			}
		})
	}
	// --fast reads nothing again.
	rep, err := Verify(ctx, bytes.NewReader(bad), VerifyOptions{Policy: trust, Fast: true, At: bytes.NewReader(bad)})
	if err != nil || rep.LayerReaders != 0 || rep.LayersUnpacked != 0 {
		t.Fatalf("--fast with At: %v, readers %d, unpacked %d", err, rep.LayerReaders, rep.LayersUnpacked)
	}
}

// secondRead serves first to the first reader (offset 0 read once) and then second: a
// carrier that changes under the verifier, as a hostile USB device or a file replaced
// during the check would.
type secondRead struct{ second []byte }

func (s secondRead) ReadAt(p []byte, off int64) (int, error) {
	return bytes.NewReader(s.second).ReadAt(p, off)
}

// TestHostileVerifyReread: the workers check what they read themselves; a bundle whose
// second read differs from the first fails, naming the layer, never reporting OK.
func TestHostileVerifyReread(t *testing.T) {
	withProcs(t, 2)
	ctx := context.Background()
	a := gzLayer(t, layerSpec{seed: 11, size: 1 << 20, mixed: true})
	b := gzLayer(t, layerSpec{seed: 12, size: 512 << 10, random: true})
	c := gzLayer(t, layerSpec{seed: 13, size: 256 << 10, mixed: true})
	first := rawBundle(t, SaveOptions{Compression: None}, a, b, c)
	m, err := openReader(bytes.NewReader(first))
	if err != nil {
		t.Fatal(err)
	}
	name := func(blob []byte) string {
		d := digest.FromBytes(blob)
		for i, x := range m.Manifest.Blobs {
			if x.Digest == d {
				return m.blobName(i)
			}
		}
		t.Fatalf("no blob %s", d)
		return ""
	}
	flipAt := bytes.Index(first, b.blob) + len(b.blob)/2
	other := rawBundle(t, SaveOptions{Compression: None}, a, c, b)
	tests := []struct {
		name   string
		second []byte
		want   error
		names  []string // layers the problems must name
	}{
		{name: "a layer byte differs", second: flipByte(first, flipAt), want: ErrDigest, names: []string{name(b.blob)}},
		{name: "another bundle", second: other, want: ErrDigest, names: []string{name(a.blob), name(b.blob), name(c.blob)}},
		{name: "cut short", second: first[:bytes.Index(first, c.blob)+100], want: ErrTruncated, names: []string{name(c.blob)}},
		{name: "gone", second: nil, want: ErrNotBundle, names: []string{name(a.blob), name(b.blob), name(c.blob)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := Verify(ctx, bytes.NewReader(first), VerifyOptions{At: secondRead{tt.second}})
			if err == nil || rep == nil || rep.OK() {
				t.Fatalf("Verify = %v: a changed second read passed", err)
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want errors.Is %v", err, tt.want)
			}
			if rep.LayerReaders == 0 {
				t.Fatal("the re-reading path was not taken")
			}
			for _, n := range tt.names {
				if !strings.Contains(err.Error(), n) {
					t.Fatalf("Verify = %v\nwant it to name %s", err, n)
				}
			}
			if rep.LayersUnpacked+len(tt.names) != 3 {
				t.Fatalf("%d layers unpacked, %d failed: want 3 in all (%v)", rep.LayersUnpacked, len(tt.names), err)
			}
		})
	}
}

// TestVerifyRereadConcurrent: with a bundle to read again, several workers check layers
// at the same time. Each worker waits at its first layer until two are there: with one
// worker at a time the barrier would never fill (it gives up after a minute and fails).
func TestVerifyRereadConcurrent(t *testing.T) {
	withProcs(t, 2)
	data := rawBundle(t, SaveOptions{},
		gzLayer(t, layerSpec{seed: 21, size: 1 << 20, mixed: true}),
		gzLayer(t, layerSpec{seed: 22, size: 1 << 20, random: true}),
		gzLayer(t, layerSpec{seed: 23, size: 512 << 10, mixed: true}))
	var mu sync.Mutex
	arrived := map[int]bool{}
	full := make(chan struct{})
	rereadWorkerStart = func(w int) {
		mu.Lock()
		arrived[w] = true
		if len(arrived) == 2 {
			close(full)
		}
		mu.Unlock()
		select {
		case <-full:
		case <-time.After(time.Minute):
		}
	}
	t.Cleanup(func() { rereadWorkerStart = nil })
	rep, err := Verify(context.Background(), bytes.NewReader(data), VerifyOptions{At: bytes.NewReader(data)})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-full:
	default:
		t.Fatalf("workers %v reached their layers, never two at once", arrived)
	}
	if rep.LayerReaders != 2 || rep.LayersUnpacked != 3 {
		t.Fatalf("LayerReaders %d, LayersUnpacked %d; want 2 and 3", rep.LayerReaders, rep.LayersUnpacked)
	}
}

// blockingAt serves data until off reaches stall, then blocks until release is closed.
type blockingAt struct {
	data    []byte
	stall   int64
	release chan struct{}
}

func (b *blockingAt) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > b.stall {
		<-b.release
	}
	return bytes.NewReader(b.data).ReadAt(p, off)
}

// TestVerifyRereadStops: a failing layer or a cancelled ctx ends Verify without leaving
// workers running, even when a worker's read hangs.
func TestVerifyRereadStops(t *testing.T) {
	withProcs(t, 2)
	l1 := gzLayer(t, layerSpec{seed: 31, size: 2 << 20, mixed: true})
	l2 := gzLayer(t, layerSpec{seed: 32, size: 2 << 20, random: true})
	l3 := gzLayer(t, layerSpec{seed: 33, size: 2 << 20, mixed: true})
	l1.diffID = digest.FromString("wrong")
	data := rawBundle(t, SaveOptions{}, l1, l2, l3)
	settled := func(base int) {
		t.Helper()
		for i := 0; runtime.NumGoroutine() > base; i++ {
			if i == 500 {
				buf := make([]byte, 1<<20)
				t.Fatalf("%d goroutines, %d before Verify:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	t.Run("failing layer", func(t *testing.T) {
		base := runtime.NumGoroutine()
		rep, err := Verify(context.Background(), bytes.NewReader(data), VerifyOptions{At: bytes.NewReader(data)})
		if !errors.Is(err, ErrImage) || rep.LayersUnpacked != 2 || rep.LayerReaders != 2 {
			t.Fatalf("Verify = %v (unpacked %d, readers %d)", err, rep.LayersUnpacked, rep.LayerReaders)
		}
		settled(base)
	})
	t.Run("cancelled while a read hangs", func(t *testing.T) {
		base := runtime.NumGoroutine()
		ctx, cancel := context.WithCancel(context.Background())
		at := &blockingAt{data: data, stall: int64(len(data) / 2), release: make(chan struct{})}
		rereadWorkerStart = func(int) { cancel() }
		t.Cleanup(func() { rereadWorkerStart = nil })
		done := make(chan error, 1)
		go func() {
			_, err := Verify(ctx, bytes.NewReader(data), VerifyOptions{At: at})
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Verify = %v, want context.Canceled", err)
			}
		case <-time.After(time.Minute):
			t.Fatal("Verify did not return after its ctx was cancelled")
		}
		close(at.release) // the hung read returns; its goroutine must then end
		settled(base)
	})
}

// TestVerifyRereadOneCore: with one core the re-reads would only add work; the stream path
// checks the layers.
func TestVerifyRereadOneCore(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	data := rawBundle(t, SaveOptions{}, gzLayer(t, layerSpec{seed: 41, size: 64 << 10, mixed: true}), gzLayer(t, layerSpec{seed: 42, size: 64 << 10}))
	rep, err := Verify(context.Background(), bytes.NewReader(data), VerifyOptions{At: bytes.NewReader(data)})
	if err != nil || rep.LayerReaders != 0 || rep.LayersUnpacked != 2 {
		t.Fatalf("Verify = %v: LayerReaders %d, LayersUnpacked %d; want 0 and 2", err, rep.LayerReaders, rep.LayersUnpacked)
	}
}

// FuzzVerifyReread: whatever the stream, checking the layers by re-reading it gives the
// report of the one sequential pass.
func FuzzVerifyReread(f *testing.F) {
	if runtime.GOMAXPROCS(0) < 2 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2)) // the re-reading path needs two
	}
	src := sourceStoreSmall(f)
	f.Add(save(f, src, []string{"small:1"}, SaveOptions{Compression: None}))
	f.Add(save(f, src, []string{"small:1"}, SaveOptions{}))
	f.Add(rawBundle(f, SaveOptions{Compression: None}, gzLayer(f, layerSpec{seed: 51, size: 4 << 10}),
		rawLayer{ocispec.MediaTypeImageLayerGzip, gzipBytes([]byte("not a tar")), digest.FromString("wrong")},
		plainLayer(f, layerSpec{seed: 52, size: 2 << 10})))
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		seq, _ := Verify(ctx, bytes.NewReader(data), VerifyOptions{})
		par, _ := Verify(ctx, bytes.NewReader(data), VerifyOptions{At: bytes.NewReader(data)})
		if a, b := reportSummary(seq), reportSummary(par); a != b {
			t.Fatalf("reports differ:\nsequential:\n%s\nre-read:\n%s", a, b)
		}
	})
}

// eofSignal closes eof once r has returned io.EOF.
type eofSignal struct {
	r    io.Reader
	eof  chan struct{}
	once sync.Once
}

func (e *eofSignal) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		e.once.Do(func() { close(e.eof) })
	}
	return n, err
}

// TestHostileVerifyFileRewritten: a real file rewritten in place after the first pass has
// read all of it (and found it good), before the workers read its last layer: the layer
// fails, named, and the report is not OK.
func TestHostileVerifyFileRewritten(t *testing.T) {
	withProcs(t, 2)
	ls := []rawLayer{
		gzLayer(t, layerSpec{seed: 61, size: 8 << 20, random: true}),
		gzLayer(t, layerSpec{seed: 62, size: 8 << 20, random: true}),
		gzLayer(t, layerSpec{seed: 63, size: 8 << 20, random: true}),
	}
	data := rawBundle(t, SaveOptions{Compression: None}, ls...)
	p := filepath.Join(t.TempDir(), "b.imgx")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// The last layer is far past what a worker reads ahead when it reaches its first.
	last := slices.MaxFunc(ls, func(a, b rawLayer) int { return bytes.Index(data, a.blob[:4096]) - bytes.Index(data, b.blob[:4096]) })
	at := int64(bytes.Index(data, last.blob[:4096]) + len(last.blob)/2)
	r := &eofSignal{r: f, eof: make(chan struct{})}
	var rewrite sync.Once
	rereadWorkerStart = func(int) {
		select {
		case <-r.eof:
		case <-time.After(time.Minute):
			t.Error("the first pass never reached the end of the file")
		}
		rewrite.Do(func() {
			w, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				t.Error(err)
				return
			}
			defer w.Close()
			if _, err := w.WriteAt([]byte{data[at] ^ 0x20}, at); err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(func() { rereadWorkerStart = nil })
	rep, err := Verify(context.Background(), r, VerifyOptions{At: f})
	if err == nil || rep.OK() {
		t.Fatal("Verify passed a file that changed under it")
	}
	// The main pass checks a worker's layer by size only (the worker hashes what it
	// reads), so the change shows as that layer's digest mismatch.
	if !errors.Is(err, ErrDigest) || !strings.Contains(err.Error(), digest.FromBytes(last.blob).String()) {
		t.Fatalf("Verify = %v\nwant a digest mismatch naming layer %s", err, digest.FromBytes(last.blob))
	}
	if rep.BlobsChecked != len(rep.Manifest.Blobs) || rep.LayersUnpacked != 2 {
		t.Fatalf("checked %d blobs, unpacked %d layers; want all and 2", rep.BlobsChecked, rep.LayersUnpacked)
	}
}
