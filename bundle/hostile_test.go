package bundle

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"

	"github.com/imgx/imgx/internal/testutil"
	"github.com/imgx/imgx/verify"
)

// peakHeap runs f while sampling the Go heap and returns the highest HeapInuse seen above
// what was in use before.
func peakHeap(f func()) uint64 {
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	sample := func() {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		if m.HeapInuse > base.HeapInuse && m.HeapInuse-base.HeapInuse > peak.Load() {
			peak.Store(m.HeapInuse - base.HeapInuse)
		}
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			sample()
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
	sample()
	return peak.Load()
}

func emptyObjects(n int) string { return "[" + strings.Repeat("{},", n-1) + "{}]" }

// withBlob replaces, in an unsigned plain bundle, the blob entry at index i of the
// manifest's blob list with data (same media type), fixing the bundle manifest.
func withBlob(t *testing.T, b []byte, i int, data []byte) []byte {
	t.Helper()
	es := readEntries(t, b)
	m, err := ParseManifest(es[0].data)
	if err != nil {
		t.Fatal(err)
	}
	old := m.Blobs[i].Digest
	m.Blobs[i].Digest, m.Blobs[i].Size = digest.FromBytes(data), int64(len(data))
	for j := range m.Images {
		if m.Images[j].Descriptor.Digest == old {
			m.Images[j].Descriptor.Digest, m.Images[j].Descriptor.Size = m.Blobs[i].Digest, m.Blobs[i].Size
		}
	}
	k := find(es, func(e entry) bool { return e.h.Name == blobPath(old) })
	es[k].h.Name, es[k].data = blobPath(m.Blobs[i].Digest), data
	if es[0].data, err = m.Marshal(); err != nil {
		t.Fatal(err)
	}
	return writeEntries(t, es)
}

// TestHostileBundleBounds: streams built to exhaust memory through the bundle's metadata
// are refused with an error naming the limit, short even when the input's names are not,
// quickly, with the heap well under 100 MB, and without changing the visible store.
func TestHostileBundleBounds(t *testing.T) {
	src := sourceStore(t)
	good := save(t, src, []string{"example/app:1"}, SaveOptions{Compression: None})
	es := readEntries(t, good)
	m, _ := ParseManifest(es[0].data)
	manifestIdx := -1
	for i, d := range m.Blobs {
		if strings.HasSuffix(d.MediaType, "manifest.v1+json") {
			manifestIdx = i
		}
	}
	longName := strings.Repeat("n", 100<<10)
	zw, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
	cases := []struct {
		name string
		data []byte
		want error
		msg  string
	}{
		{"manifest of empty objects", writeEntries(t, []entry{{&tar.Header{Name: ManifestName, Typeflag: tar.TypeReg},
			[]byte(`{"mediaType":"` + MediaType + `","formatVersion":"1.0","blobs":` + emptyObjects(1<<20) + `}`)}}),
			ErrMalformed, "too many JSON values"},
		{"image manifest of empty objects", withBlob(t, good, manifestIdx,
			[]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":`+emptyObjects(1<<20)+`}`)),
			ErrMalformed, "too many JSON values"},
		{"long entry name after the head", writeEntries(t, append([]entry{es[0]}, entry{&tar.Header{Name: longName, Typeflag: tar.TypeReg}, nil})),
			ErrMalformed, "more than the limit of 256"},
		{"huge signature", writeEntries(t, []entry{es[0], {&tar.Header{Name: "signatures/" + strings.Repeat("a", 64) + ".sigstore.json", Typeflag: tar.TypeReg}, bytes.Repeat([]byte(" "), 1<<20)}}),
			ErrMalformed, "exceeds the 262144 limit"},
		{"PAX header chain before the manifest", zw.EncodeAll(paxChainBundle(t, 100, 1000<<10), nil),
			ErrTooLarge, "decompressed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dst := newStore(t)
			before := testutil.VisibleTreeHash(t, dst.Root())
			var err error
			start := time.Now()
			peak := peakHeap(func() {
				_, err = Load(context.Background(), dst, bytes.NewReader(c.data), LoadOptions{Policy: verify.Policy{}})
			})
			t.Logf("%d bytes, %v, peak heap %.1f MB: %.300v", len(c.data), time.Since(start), float64(peak)/(1<<20), err)
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("Load = %.500v\nwant %v mentioning %q", err, c.want, c.msg)
			}
			if len(err.Error()) > 1024 {
				t.Errorf("error is %d bytes long: hostile names must be shortened", len(err.Error()))
			}
			if peak > 64<<20 {
				t.Errorf("peak heap %.1f MB, want under 64 MB", float64(peak)/(1<<20))
			}
			if time.Since(start) > 10*time.Second {
				t.Errorf("took %v", time.Since(start))
			}
			if after := testutil.VisibleTreeHash(t, dst.Root()); after != before {
				t.Error("refused load changed the store")
			}
		})
	}
}

// paxChainBundle is n PAX headers of about recLen bytes each in a row, then a manifest
// entry: the tar reader reads the whole chain in the Next that returns the manifest.
func paxChainBundle(t *testing.T, n, recLen int) []byte {
	t.Helper()
	body := " imgx.pad=" + strings.Repeat("p", recLen) + "\n"
	rec := strconv.Itoa(len(body)+len(strconv.Itoa(len(body)))) + body
	var raw bytes.Buffer
	for range n {
		var one bytes.Buffer
		tw := tar.NewWriter(&one)
		tw.WriteHeader(&tar.Header{Name: "PaxHeaders/x", Typeflag: tar.TypeReg, Size: int64(len(rec)), Mode: 0o644})
		tw.Write([]byte(rec))
		tw.Flush()
		h := one.Bytes()
		h[156] = tar.TypeXHeader
		copy(h[148:156], "        ")
		sum := 0
		for _, c := range h[:512] {
			sum += int(c)
		}
		copy(h[148:156], fmt.Sprintf("%06o\x00 ", sum))
		raw.Write(h)
	}
	raw.Write(writeEntries(t, []entry{{&tar.Header{Name: ManifestName, Typeflag: tar.TypeReg}, []byte("{}")}}))
	return raw.Bytes()
}
