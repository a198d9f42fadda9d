package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// TestHostileLoadRSS runs the imgx binary on inputs built to exhaust memory and reads the
// process's peak resident set size (getrusage): each is refused naming its limit with
// RSS under 100 MB. The first is issue 11's: 20000 symlinks whose names and targets are
// 4000 bytes each, 160 MB of names in 200 KB of zstd (1.25 GB RSS before).
func TestHostileLoadRSS(t *testing.T) {
	if testing.Short() {
		t.Skip("runs imgx many times")
	}
	timeBin, err := exec.LookPath("/usr/bin/time")
	if err != nil {
		t.Fatal("GNU time is needed to measure the peak RSS of imgx (apt-get install time)")
	}
	bin := imgxBin(t)
	dir := t.TempDir()
	tarOf := func(gen func(tw *tar.Writer)) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		gen(tw)
		tw.Close()
		return buf.Bytes()
	}
	// zstdTar streams the tar into the compressor: the tars are hundreds of MB, their
	// compressed forms a few hundred KB, and the test's own memory should not be the
	// largest thing on the machine (it was 1.2 GB).
	zstdTar := func(window int, gen func(tw *tar.Writer)) []byte {
		var buf bytes.Buffer
		zw, err := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithWindowSize(window), zstd.WithEncoderConcurrency(1))
		if err != nil {
			t.Fatal(err)
		}
		tw := tar.NewWriter(zw)
		gen(tw)
		tw.Close()
		zw.Close()
		return buf.Bytes()
	}
	file := func(tw *tar.Writer, name string, body []byte) {
		tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Size: int64(len(body)), Mode: 0o644})
		tw.Write(body)
	}
	objects := func(n int) string { return "[" + strings.Repeat("{},", n-1) + "{}]" }
	random := make([]byte, 1<<20)
	for i := range random {
		random[i] = byte(i*7919 + i>>9*131)
	}
	cases := []struct {
		name string
		data []byte
		msg  string
	}{
		{"long-name symlinks", zstdTar(8<<20, func(tw *tar.Writer) {
			pad := strings.Repeat("a", 3992)
			for i := range 20000 {
				n := fmt.Sprintf("%s%08d", pad, i)
				tw.WriteHeader(&tar.Header{Name: n, Linkname: n[1:], Typeflag: tar.TypeSymlink, Format: tar.FormatPAX})
			}
		}), "exceeds the limit of 16777216 bytes"},
		{"index.json of empty objects", tarOf(func(tw *tar.Writer) {
			file(tw, "oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`))
			file(tw, "index.json", []byte(`{"schemaVersion":2,"manifests":`+objects(2<<20)+`}`))
		}), "too many JSON values"},
		{"bundle manifest of empty objects", tarOf(func(tw *tar.Writer) {
			file(tw, "imgx-bundle.json", []byte(`{"mediaType":"application/vnd.imgx.bundle.manifest.v1+json","formatVersion":"1.0","blobs":`+objects(2<<20)+`}`))
		}), "too many JSON values"},
		{"zstd window of 128 MiB", zstdTar(128<<20, func(tw *tar.Writer) {
			for i := range 160 { // 160 MB, far apart repeats: history the window must hold
				file(tw, fmt.Sprintf("blob%d", i), random)
			}
		}), "window"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-"))
			if err := os.WriteFile(in, c.data, 0o644); err != nil {
				t.Fatal(err)
			}
			// Through /usr/bin/time: a child's ru_maxrss counts the RSS of the process it
			// was forked from, here this test with its generated inputs.
			var stderr bytes.Buffer
			rssFile := in + ".rss"
			cmd := exec.Command(timeBin, "-f", "%M", "-o", rssFile, bin, "--store", filepath.Join(dir, "store"), "load", "-i", in)
			cmd.Stderr = &stderr
			err := cmd.Run()
			kb, rerr := os.ReadFile(rssFile)
			if rerr != nil {
				t.Fatal(rerr)
			}
			// The last line; GNU time puts "Command exited with non-zero status" before it.
			lines := strings.Fields(strings.TrimSpace(string(kb)))
			var rss int64
			if _, err := fmt.Sscan(lines[len(lines)-1], &rss); err != nil {
				t.Fatalf("time output %q: %v", kb, err)
			}
			rss <<= 10
			t.Logf("%d bytes in: exit %v, max RSS %.1f MB: %.300s", len(c.data), err, float64(rss)/(1<<20), stderr.String())
			if err == nil || !strings.Contains(stderr.String(), c.msg) {
				t.Errorf("imgx load: %v, stderr %.500q; want a failure mentioning %q", err, stderr.String(), c.msg)
			}
			if rss > 100<<20 {
				t.Errorf("max RSS %.1f MB, want under 100 MB", float64(rss)/(1<<20))
			}
		})
	}
}
