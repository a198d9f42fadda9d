package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/imgx/imgx/internal/testutil"
)

// zstdTar compresses the tar that gen writes.
func zstdTar(t testing.TB, gen func(tw *tar.Writer)) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(zw)
	gen(tw)
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

var (
	genMu    sync.Mutex
	genCache = map[string][]byte{}
)

// longSymlinks is the memory bomb of issue 11: symlinks whose names and targets are
// nameLen bytes each (PAX records), n of them, compressing to almost nothing. Inputs are
// generated once per test binary run (the large ones take seconds).
func longSymlinks(t testing.TB, n, nameLen int) []byte {
	genMu.Lock()
	defer genMu.Unlock()
	key := fmt.Sprint("symlinks", n, nameLen)
	if b, ok := genCache[key]; ok {
		return b
	}
	b := zstdTar(t, func(tw *tar.Writer) {
		pad := strings.Repeat("a", nameLen-8)
		for i := range n {
			name := fmt.Sprintf("%s%08d", pad, i)
			if err := tw.WriteHeader(&tar.Header{Name: name, Linkname: name[1:], Typeflag: tar.TypeSymlink, Format: tar.FormatPAX}); err != nil {
				t.Fatal(err)
			}
		}
	})
	genCache[key] = b
	return b
}

// paxChain writes n PAX extended headers in a row, each carrying a record of recLen
// bytes, then one small file: the tar reader swallows the whole chain in a single Next.
func paxChain(t testing.TB, n, recLen int) []byte {
	t.Helper()
	rec := paxRecord("imgx.pad", strings.Repeat("p", recLen))
	var raw bytes.Buffer
	for range n {
		var one bytes.Buffer
		tw := tar.NewWriter(&one)
		tw.WriteHeader(&tar.Header{Name: "PaxHeaders/x", Typeflag: tar.TypeReg, Size: int64(len(rec)), Mode: 0o644})
		tw.Write([]byte(rec))
		tw.Flush()
		b := one.Bytes()
		b[156] = tar.TypeXHeader
		setChecksum(b[:512])
		raw.Write(b)
	}
	var tail bytes.Buffer
	tw := tar.NewWriter(&tail)
	tw.WriteHeader(&tar.Header{Name: "x", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644})
	tw.Write([]byte("x"))
	tw.Close()
	raw.Write(tail.Bytes())
	zw, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
	return zw.EncodeAll(raw.Bytes(), nil)
}

func paxRecord(k, v string) string {
	body := " " + k + "=" + v + "\n"
	n := len(body)
	for {
		s := strconv.Itoa(n) + body
		if len(s) == n {
			return s
		}
		n = len(s)
	}
}

func setChecksum(h []byte) {
	copy(h[148:156], "        ")
	sum := 0
	for _, c := range h {
		sum += int(c)
	}
	copy(h[148:156], fmt.Sprintf("%06o\x00 ", sum))
}

// tinyEntries is n identical directory entries (2 million compress to about 60 KB): one
// zstd frame of 4096 entries, repeated.
func tinyEntries(t testing.TB, n int) []byte {
	var block bytes.Buffer
	tw := tar.NewWriter(&block)
	for range 4096 {
		tw.WriteHeader(&tar.Header{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o755})
	}
	tw.Flush()
	zw, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
	frame := zw.EncodeAll(block.Bytes(), nil)
	return bytes.Repeat(frame, n/4096)
}

// TestHostileArchiveBounds feeds the archive reader streams built to exhaust memory or
// time through tar metadata, and expects each to be refused quickly with an error naming
// the limit it hit, leaving the visible store unchanged.
func TestHostileArchiveBounds(t *testing.T) {
	deep := strings.Repeat("a/", 1000) + "x"
	cases := []struct {
		name string
		data []byte
		msg  string
	}{
		// Names of 100 KiB each: refused at the first one.
		{"long-name symlinks", longSymlinks(t, 20, 100<<10), "name is 102400 bytes, more than the limit of 4096"},
		// Names just under the length limit: the total of names, link names and PAX
		// records runs out.
		{"many long names", longSymlinks(t, 20000, 4000), "tar header metadata (names, link names, PAX records) exceeds the limit of 16777216 bytes"},
		// PAX records of ~1 MiB on every entry (20 MB of them).
		{"huge PAX records", zstdTar(t, func(tw *tar.Writer) {
			pad := strings.Repeat("p", 1000<<10)
			for i := range 20 {
				tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("d%d/", i), Typeflag: tar.TypeDir, Mode: 0o755, PAXRecords: map[string]string{"imgx.pad": pad}})
			}
		}), "tar header metadata (names, link names, PAX records) exceeds the limit of 16777216 bytes"},
		// 40 PAX headers of ~1 MiB in a row, which the tar reader reads in one Next.
		{"PAX header chain", paxChain(t, 40, 1000<<10), "bytes of tar headers and padding"},
		{"millions of tiny entries", tinyEntries(t, 2<<20), "more than 65536 entries"},
		{"deep names", zstdTar(t, func(tw *tar.Writer) {
			tw.WriteHeader(&tar.Header{Name: deep, Typeflag: tar.TypeSymlink, Linkname: "x"})
		}), "path elements, more than the limit of 64"},
		{"deep link target", zstdTar(t, func(tw *tar.Writer) {
			tw.WriteHeader(&tar.Header{Name: "x", Typeflag: tar.TypeSymlink, Linkname: deep})
		}), "path elements, more than the limit of 64"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := usedStore(t)
			before := testutil.VisibleTreeHash(t, s.Root())
			start := time.Now()
			_, err := Load(context.Background(), s, bytes.NewReader(c.data), LoadOptions{})
			took := time.Since(start)
			t.Logf("%d bytes in, %v: %v", len(c.data), took, err)
			if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("Load = %v\nwant ErrTooLarge mentioning %q", err, c.msg)
			}
			if len(err.Error()) > 1024 {
				t.Errorf("error is %d bytes long: hostile names must be shortened", len(err.Error()))
			}
			if took > 10*time.Second {
				t.Errorf("took %v to refuse", took)
			}
			if after := testutil.VisibleTreeHash(t, s.Root()); after != before {
				t.Error("refused load changed the store")
			}
		})
	}
}

// peakHeap runs f while sampling the Go heap, and returns the highest HeapInuse seen
// above what was in use before.
func peakHeap(f func()) uint64 {
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > base.HeapInuse && m.HeapInuse-base.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse - base.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	f()
	close(stop)
	<-done
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	if m.HeapInuse > base.HeapInuse && m.HeapInuse-base.HeapInuse > peak.Load() {
		peak.Store(m.HeapInuse - base.HeapInuse)
	}
	return peak.Load()
}

// TestHostileArchiveHeap loads the memory bomb (20000 symlinks with 4000-byte
// names and targets: 160 MB of names from a few hundred KB of zstd) and the other
// hostile streams while sampling the heap: it must stay well under 100 MB.
func TestHostileArchiveHeap(t *testing.T) {
	inputs := map[string][]byte{
		"many long names":  longSymlinks(t, 20000, 4000),
		"PAX header chain": paxChain(t, 40, 1000<<10),
		"tiny entries":     tinyEntries(t, 2<<20),
	}
	for name, data := range inputs {
		s := newStore(t)
		var err error
		peak := peakHeap(func() {
			_, err = Load(context.Background(), s, io.MultiReader(bytes.NewReader(data)), LoadOptions{})
		})
		t.Logf("%s: %d bytes in, peak heap %.1f MB, err %v", name, len(data), float64(peak)/(1<<20), err)
		if err == nil {
			t.Errorf("%s: loaded", name)
		}
		if peak > 64<<20 {
			t.Errorf("%s: peak heap %.1f MB, want under 64 MB", name, float64(peak)/(1<<20))
		}
	}
}

// emptyObjects is a JSON array of n empty objects: 3 bytes each, about 250 bytes each
// once decoded into descriptors.
func emptyObjects(n int) string {
	return "[" + strings.Repeat("{},", n-1) + "{}]"
}

// TestHostileArchiveMetadata: metadata small enough to pass the byte limits but made of
// empty objects, which decode to hundreds of MB, is refused before it is decoded.
func TestHostileArchiveMetadata(t *testing.T) {
	const n = 1 << 20 // 3 MB of JSON
	layout := func(ix string, extra ...ent) []ent {
		return append([]ent{{name: "oci-layout", body: []byte(`{"imageLayoutVersion":"1.0.0"}`)}, {name: "index.json", body: []byte(ix)}}, extra...)
	}
	bigManifest := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":` + emptyObjects(n) + `}`)
	md := sha(bigManifest)
	mdesc := `{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + md.String() + `","size":` + strconv.Itoa(len(bigManifest)) + `,"annotations":{"org.opencontainers.image.ref.name":"a:1"}}`
	cases := []struct {
		name string
		ents []ent
	}{
		{"index.json", layout(`{"schemaVersion":2,"manifests":` + emptyObjects(n) + `}`)},
		// Just under the limit: decoded, then refused for what it says.
		{"index.json at the limit", layout(`{"schemaVersion":2,"manifests":` + emptyObjects(maxJSONValues/2-2) + `}`)},
		{"manifest.json", []ent{{name: "manifest.json", body: []byte(emptyObjects(n))}}},
		// Four metadata files of 7 MB each: not held together.
		{"metadata files in all", []ent{
			{name: "manifest.json", body: bytes.Repeat([]byte(" "), 7<<20)},
			{name: "index.json", body: bytes.Repeat([]byte(" "), 7<<20)},
			{name: "repositories", body: bytes.Repeat([]byte(" "), 7<<20)},
			{name: "oci-layout", body: bytes.Repeat([]byte(" "), 7<<20)},
		}},
		{"image manifest", layout(`{"schemaVersion":2,"manifests":[`+mdesc+`]}`, ent{name: blobName(md), body: bigManifest})},
	}
	for _, c := range cases {
		for _, dir := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/dir=%v", c.name, dir), func(t *testing.T) {
				data := mkTar(t, c.ents)
				d := t.TempDir()
				if dir {
					untar(t, data, d)
				}
				s := newStore(t)
				var err error
				peak := peakHeap(func() {
					if dir {
						_, err = LoadDir(context.Background(), s, d, LoadOptions{})
					} else {
						_, err = Load(context.Background(), s, bytes.NewReader(data), LoadOptions{})
					}
				})
				t.Logf("peak heap %.1f MB: %v", float64(peak)/(1<<20), err)
				if err == nil {
					t.Fatal("loaded")
				}
				want := "too many JSON values"
				if c.name == "metadata files in all" {
					if dir {
						return // a directory's metadata files are read one at a time
					}
					want = "metadata files exceed 12582912 bytes in all"
				}
				if !strings.HasSuffix(c.name, "at the limit") && (!errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), want)) {
					t.Errorf("Load = %v, want ErrTooLarge: %s", err, want)
				}
				if peak > 64<<20 {
					t.Errorf("peak heap %.1f MB, want under 64 MB", float64(peak)/(1<<20))
				}
			})
		}
	}
}

// TestHostileLayoutDirNames: names that a directory's metadata refers to obey the same
// length and depth limits as entry names, and errors quote them shortened.
func TestHostileLayoutDirNames(t *testing.T) {
	for _, c := range []struct {
		name, layer, msg string
	}{
		{"long", strings.Repeat("l", 100<<10), "name is 102400 bytes, more than the limit of 4096"},
		{"deep", strings.Repeat("d/", 100) + "layer.tar", "name has 101 path elements, more than the limit of 64"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			untar(t, mkTar(t, []ent{{name: "manifest.json", body: []byte(`[{"Config":"` + c.layer + `","RepoTags":["a:1"],"Layers":["l.tar"]}]`)}}), dir)
			_, err := LoadDir(context.Background(), newStore(t), dir, LoadOptions{})
			if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), c.msg) || len(err.Error()) > 1024 {
				t.Fatalf("LoadDir = %.300v\nwant ErrTooLarge mentioning %q, shortened", err, c.msg)
			}
		})
	}
}
