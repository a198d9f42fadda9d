package archive

import (
	"archive/tar"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/imgx/imgx/internal/compress"
)

// Format names an archive format.
type Format string

const (
	FormatUnknown Format = ""
	// FormatDockerArchive is `docker save` output: manifest.json, with either legacy
	// <id>/layer.tar files or (Docker 25+) an OCI layout beside it.
	FormatDockerArchive Format = "docker-archive"
	// FormatOCIArchive is an OCI image layout in a tar (skopeo, buildah, podman).
	FormatOCIArchive Format = "oci-archive"
	// FormatOCILayout is an OCI image layout directory.
	FormatOCILayout Format = "oci-layout"
	// FormatDockerDir is an unpacked docker-archive (a directory with manifest.json).
	FormatDockerDir Format = "docker-dir"
)

// Peeked is what [Peek] saw at the start of a stream.
type Peeked struct {
	Compression compress.Kind
	// Tar reports whether the (decompressed) start is a tar header.
	Tar bool
	// Entries are the names of the first tar entries that fit in the peeked prefix, in
	// order; other readers (the imgx bundle) recognise their own first entry here.
	Entries []string
	// Format is a guess from those names: FormatDockerArchive for a legacy docker save
	// (whose first entries are <id>/ directories), FormatOCIArchive for an OCI layout
	// (which Docker 25+ archives also start with), FormatUnknown otherwise. [Load] does
	// not rely on it: it decides from the whole archive.
	Format Format
}

// Peek looks at the start of br without consuming anything: it removes whole-stream
// compression from what is buffered and lists the first tar entries found there. br should
// have a buffer of at least 64 KiB; more shows more entries.
func Peek(br *bufio.Reader) (Peeked, error) {
	var p Peeked
	kind, err := compress.Detect(br)
	if err != nil {
		return p, fmt.Errorf("detect compression: %w", err)
	}
	p.Compression = kind
	head, err := br.Peek(br.Size())
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return p, fmt.Errorf("read archive start: %w", err)
	}
	zr, _, err := compress.NewReader(bufio.NewReaderSize(bytes.NewReader(head), 16), compress.Options{Limit: 4 << 20})
	if err != nil {
		return p, nil // not decodable: Load reports the real error
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	for len(p.Entries) < 64 {
		h, err := tr.Next()
		if err != nil {
			break // end of the peeked prefix, or not a tar
		}
		p.Tar = true
		p.Entries = append(p.Entries, strings.TrimPrefix(h.Name, "./"))
	}
	p.Format = guess(p.Entries)
	return p, nil
}

func guess(names []string) Format {
	for _, n := range names {
		switch top, _, _ := strings.Cut(n, "/"); {
		case top == "blobs" || top == "oci-layout" || top == "index.json":
			return FormatOCIArchive
		case top == "manifest.json" || top == "repositories" || isHex64(strings.TrimSuffix(top, ".json")):
			return FormatDockerArchive
		}
	}
	return FormatUnknown
}

// DetectDir reports whether dir holds an OCI layout (index.json) or an unpacked
// docker-archive (manifest.json). An OCI layout that also has a manifest.json (an unpacked
// Docker 25 archive) is reported as FormatOCILayout; [LoadDir] reads both files either way.
func DetectDir(dir string) (Format, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return FormatUnknown, err
	}
	if !fi.IsDir() {
		return FormatUnknown, fmt.Errorf("%s: not a directory", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "index.json")); err == nil {
		return FormatOCILayout, nil
	}
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err == nil {
		return FormatDockerDir, nil
	}
	return FormatUnknown, fmt.Errorf("%s: %w: no index.json or manifest.json", dir, ErrUnknownFormat)
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
