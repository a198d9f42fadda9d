package bundle

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/internal/compress"
	"github.com/imgx/imgx/internal/jsonlimit"
	"github.com/imgx/imgx/oci"
)

// headLimit bounds what is decompressed before the manifest is known.
const headLimit = maxManifestSize + 2<<20

var sigNameRE = regexp.MustCompile(`^signatures/[0-9a-f]{64}\.sigstore\.json$`)

// reader walks a bundle stream in the order the format fixes, checking names, types,
// sizes and order as it goes. It never buffers more than one metadata blob at a time
// beyond the manifests and configs it keeps for the graph check.
type reader struct {
	dec     io.ReadCloser
	limit   *dynLimit
	tr      *tar.Reader
	Kind    compress.Kind
	pending *tar.Header // read ahead, not yet consumed
	eof     bool
	// entryEnd is where, in the decompressed stream, the last entry's data and padding
	// end: the end-of-archive marker (two zero blocks) must follow it. archive/tar reports
	// a clean io.EOF when the stream simply stops there, or inside the padding.
	entryEnd int64

	Manifest       *Manifest
	ManifestBytes  []byte
	ManifestDigest digest.Digest
	Signatures     [][]byte
	SignatureNames []string

	meta      map[digest.Digest][]byte // indexes, manifests, configs read so far
	metaTotal int64
	configs   map[digest.Digest]bool
	layerSeen bool
	graphDone bool
	Graph     *graph
}

// openReader detects compression and reads the head: the manifest and the signatures.
func openReader(r io.Reader) (*reader, error) { return openStream(context.Background(), r) }

// openStream is openReader that, given a ctx, reads and decompresses in goroutines of its
// own, so that both overlap with hashing and writing (Load and Verify are otherwise bound
// by one core doing everything): a zstd stream frame by frame (compress.Options.Frames),
// a plain tar through a [readAhead]. Either ends a Read waiting on r when ctx is
// cancelled, so that a hung source (a failing device, a stalled server) cannot hold up
// the caller.
func openStream(ctx context.Context, r io.Reader) (*reader, error) {
	dec, kind, err := compress.NewReader(r, compress.Options{Frames: ctx != nil, Context: ctx})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotBundle, err)
	}
	if kind != compress.None && kind != compress.Zstd {
		dec.Close()
		return nil, fmt.Errorf("%w: stream is %s-compressed; bundles are zstd or plain tar", ErrNotBundle, kind)
	}
	if ctx != nil && kind == compress.None {
		dec = newReadAhead(ctx, dec)
	}
	lim := &dynLimit{r: dec, left: headLimit}
	rd := &reader{dec: dec, limit: lim, tr: tar.NewReader(lim), Kind: kind,
		meta: map[digest.Digest][]byte{}, configs: map[digest.Digest]bool{}}
	if err := rd.readHead(); err != nil {
		dec.Close()
		return nil, err
	}
	return rd, nil
}

func (rd *reader) Close() { rd.dec.Close() }

func (rd *reader) readHead() error {
	h, err := rd.tr.Next()
	if err != nil {
		if err == io.EOF {
			return fmt.Errorf("%w: empty stream", ErrNotBundle)
		}
		if err := rd.wrap(err); errors.Is(err, ErrTruncated) {
			return err
		}
		return fmt.Errorf("%w: %w", ErrNotBundle, err)
	}
	if h.Name != ManifestName {
		return fmt.Errorf("%w: first entry is %.64q, want %s", ErrNotBundle, h.Name, ManifestName)
	}
	if err := checkHeader(h); err != nil {
		return err
	}
	rd.entryEnd = rd.limit.n + (h.Size+511)/512*512
	if h.Size > maxManifestSize {
		return malformed("%s: %d bytes exceeds the %d limit", ManifestName, h.Size, maxManifestSize)
	}
	rd.ManifestBytes, err = readAllN(rd.tr, h.Size)
	if err != nil {
		return fmt.Errorf("%s: %w", ManifestName, rd.wrap(err))
	}
	rd.ManifestDigest = digest.FromBytes(rd.ManifestBytes)
	if rd.Manifest, err = ParseManifest(rd.ManifestBytes); err != nil {
		return err
	}
	rd.limit.setTotal(rd.Manifest.tarBound(int64(maxSignatures) * (maxSignatureSize + 2048)))
	prev := ""
	for {
		h, err := rd.nextHeader()
		if err != nil {
			return err
		}
		if h == nil || !strings.HasPrefix(h.Name, signaturesDir) {
			rd.pending = h
			// Now that the head is known, bound the rest tightly.
			rd.limit.setTotal(rd.limit.n + rd.Manifest.tarBound(0))
			return nil
		}
		if !sigNameRE.MatchString(h.Name) {
			return malformed("entry %q: signature names are signatures/<64 hex>.sigstore.json", h.Name)
		}
		if h.Name <= prev {
			return malformed("entry %q: signatures out of order or duplicated", h.Name)
		}
		prev = h.Name
		if len(rd.Signatures) == maxSignatures {
			return malformed("more than %d signatures", maxSignatures)
		}
		if h.Size > maxSignatureSize {
			return malformed("%s: %d bytes exceeds the %d limit", h.Name, h.Size, maxSignatureSize)
		}
		b, err := readAllN(rd.tr, h.Size)
		if err != nil {
			return fmt.Errorf("%s: %w", h.Name, rd.wrap(err))
		}
		if err := jsonlimit.Check(b, maxJSONValues); err != nil {
			return malformed("%s: %v", h.Name, err)
		}
		rd.Signatures = append(rd.Signatures, b)
		rd.SignatureNames = append(rd.SignatureNames, h.Name)
	}
}

// nextHeader returns the next checked header, or nil at the end of the archive.
func (rd *reader) nextHeader() (*tar.Header, error) {
	if rd.pending != nil {
		h := rd.pending
		rd.pending = nil
		return h, nil
	}
	if rd.eof {
		return nil, nil
	}
	h, err := rd.tr.Next()
	if err == io.EOF { // io.EOF itself: a failing source's error may wrap it
		// tar.Reader consumes exactly the two end blocks when it sees them, and reads
		// nothing ahead: fewer bytes mean the stream stopped early.
		if rd.limit.n < rd.entryEnd+2*512 {
			return nil, fmt.Errorf("%w: the archive ends without its end-of-archive marker (%d bytes after the last entry, want its padding and 1024 zero bytes)",
				ErrTruncated, rd.limit.n-rd.entryEnd)
		}
		rd.eof = true
		return nil, nil
	}
	if err != nil {
		return nil, rd.wrap(err)
	}
	if len(h.Name) > maxEntryName {
		// Refused here, so that no message quotes a hostile name of up to 1 MiB.
		return nil, malformed("entry %.64q…: name of %d bytes, more than the limit of %d", h.Name, len(h.Name), maxEntryName)
	}
	if err := checkHeader(h); err != nil {
		return nil, err
	}
	rd.entryEnd = rd.limit.n + (h.Size+511)/512*512
	return h, nil
}

// readFiles reads the three layout files and checks them against the manifest.
func (rd *reader) readFiles() error {
	for _, f := range rd.Manifest.Files {
		h, err := rd.nextHeader()
		if err != nil {
			return err
		}
		if h == nil {
			return fmt.Errorf("%w: archive ends before %s", ErrTruncated, f.Name)
		}
		if h.Name != f.Name {
			return malformed("entry %q where %s belongs", h.Name, f.Name)
		}
		if h.Size != f.Size {
			return fmt.Errorf("%s: %w: entry has %d bytes, manifest says %d", f.Name, ErrSize, h.Size, f.Size)
		}
		b, err := readAllN(rd.tr, h.Size)
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name, rd.wrap(err))
		}
		if got := digest.FromBytes(b); got != f.Digest {
			return fmt.Errorf("%s: %w: content hashes to %s, manifest says %s", f.Name, ErrDigest, got, f.Digest)
		}
	}
	return nil
}

// blobEntry is one blob as it streams past.
type blobEntry struct {
	Index int // from 0, in manifest order
	Desc  ocispec.Descriptor
	Meta  bool   // an index, manifest or config: Data holds it, already digest-checked
	Data  []byte // for Meta entries
	R     io.Reader
}

func (rd *reader) blobName(i int) string {
	d := rd.Manifest.Blobs[i]
	return fmt.Sprintf("blob %d/%d %s (%s)", i+1, len(rd.Manifest.Blobs), d.Digest, d.MediaType)
}

// nextBlob reads the header of blob i and checks it against the manifest. A metadata blob
// is read and verified here; for a layer the caller reads R to its end and verifies.
// onMetaMismatch, if set, lets Verify record a bad metadata blob and continue.
func (rd *reader) nextBlob(i int, onMetaMismatch func(error)) (*blobEntry, error) {
	d := rd.Manifest.Blobs[i]
	h, err := rd.nextHeader()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rd.blobName(i), err)
	}
	if h == nil {
		return nil, fmt.Errorf("%w: archive ends at %s", ErrTruncated, rd.blobName(i))
	}
	if h.Name != blobPath(d.Digest) {
		return nil, malformed("entry %q where %s belongs (entries must follow the manifest's blob order)", h.Name, rd.blobName(i))
	}
	if h.Size != d.Size {
		return nil, fmt.Errorf("%s: %w: entry has %d bytes, manifest says %d", rd.blobName(i), ErrSize, h.Size, d.Size)
	}
	e := &blobEntry{Index: i, Desc: d, R: rd.tr}
	e.Meta = oci.IsIndex(d.MediaType) || oci.IsManifest(d.MediaType) || rd.configs[d.Digest]
	if !e.Meta {
		if !rd.layerSeen {
			rd.layerSeen = true
			if err := rd.checkGraph(); err != nil {
				return nil, err
			}
		}
		return e, nil
	}
	if rd.layerSeen {
		return nil, malformed("%s comes after a layer: manifests and configs go first", rd.blobName(i))
	}
	if d.Size > maxMetaBlob || rd.metaTotal+d.Size > maxMetaTotal {
		return nil, malformed("%s: too large for a manifest or config", rd.blobName(i))
	}
	b, err := readAllN(rd.tr, d.Size)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rd.blobName(i), rd.wrap(err))
	}
	if err := jsonlimit.Check(b, maxJSONValues); err != nil {
		return nil, malformed("%s: %v", rd.blobName(i), err)
	}
	if got := digest.FromBytes(b); got != d.Digest {
		err := fmt.Errorf("%s: %w: content hashes to %s", rd.blobName(i), ErrDigest, got)
		if onMetaMismatch == nil {
			return nil, err
		}
		onMetaMismatch(err)
		e.Data, e.R = b, bytes.NewReader(b)
		return e, nil
	}
	rd.meta[d.Digest] = b
	rd.metaTotal += d.Size
	if oci.IsManifest(d.MediaType) {
		if mf, err := oci.ParseManifest(b); err == nil {
			rd.configs[mf.Config.Digest] = true
		}
	}
	e.Data, e.R = b, bytes.NewReader(b)
	return e, nil
}

func (rd *reader) checkGraph() error {
	if rd.graphDone {
		return nil
	}
	rd.graphDone = true
	g, err := buildGraph(rd.Manifest, rd.meta)
	rd.Graph = g
	return err
}

// finish checks that nothing follows the last blob.
func (rd *reader) finish() error {
	if err := rd.checkGraph(); err != nil {
		return err
	}
	h, err := rd.nextHeader()
	if err != nil {
		return err
	}
	if h != nil {
		return malformed("entry %q is not listed in the manifest", h.Name)
	}
	return rd.trailing()
}

// trailing reads what follows the end-of-archive marker: no signature covers it, so
// anything but zeros (the record padding tar and dd leave) makes the bundle malformed,
// lest a tool that reads concatenated archives take it for part of a verified bundle.
// The decompression bound still applies, so this reads at most its 1 MiB slack.
func (rd *reader) trailing() error {
	var buf [4096]byte
	for {
		n, err := rd.limit.Read(buf[:])
		if i := bytes.IndexFunc(buf[:n], func(r rune) bool { return r != 0 }); i >= 0 {
			return malformed("data after the end-of-archive marker (at byte %d of the archive): no signature covers it", rd.limit.n-int64(n)+int64(i))
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return rd.wrap(err)
		}
	}
}

// wrap classifies low-level read errors.
func (rd *reader) wrap(err error) error {
	switch {
	case errors.Is(err, ErrTooLarge):
		return err
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: %w", ErrTruncated, err)
	case errors.Is(err, tar.ErrHeader), errors.Is(err, tar.ErrInsecurePath):
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return err
}

// checkHeader refuses anything but a plain regular file with a safe name.
func checkHeader(h *tar.Header) error {
	name := h.Name
	if strings.HasPrefix(name, "/") || name == ".." || strings.HasPrefix(name, "../") ||
		strings.HasSuffix(name, "/..") || strings.Contains(name, "/../") || strings.Contains(name, "\\") {
		return fmt.Errorf("entry %q: %w: absolute or escapes the archive", name, ErrUnsafePath)
	}
	if h.Typeflag != tar.TypeReg {
		kind := map[byte]string{tar.TypeSymlink: "a symlink", tar.TypeLink: "a hard link", tar.TypeDir: "a directory",
			tar.TypeChar: "a device", tar.TypeBlock: "a device", tar.TypeFifo: "a fifo", tar.TypeGNUSparse: "a sparse file"}[h.Typeflag]
		if kind == "" {
			kind = fmt.Sprintf("type %q", h.Typeflag)
		}
		return malformed("entry %q is %s; bundles hold regular files only", name, kind)
	}
	for k := range h.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return malformed("entry %q is a sparse file; bundles hold regular files only", name)
		}
	}
	if h.Size < 0 {
		return malformed("entry %q: negative size", name)
	}
	return nil
}

func readAllN(r io.Reader, n int64) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return b, nil
}

// dynLimit bounds decompressed bytes: first by headLimit, then by what the manifest allows.
type dynLimit struct {
	r    io.Reader
	n    int64 // read so far
	left int64
}

func (l *dynLimit) setTotal(total int64) { l.left = max(total-l.n, 0) }

func (l *dynLimit) Read(p []byte) (int, error) {
	if l.left <= 0 {
		var one [1]byte
		if n, _ := l.r.Read(one[:]); n > 0 {
			return 0, fmt.Errorf("%w (more than %d bytes decompressed)", ErrTooLarge, l.n)
		}
		return 0, io.EOF
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	l.left -= int64(n)
	return n, err
}

// graph is what the manifests and configs say about the images.
type graph struct {
	DiffIDs map[digest.Digest]digest.Digest // layer digest -> uncompressed digest, from configs
}

// buildGraph checks that the images' closure is exactly blobs ∪ expects, with matching
// sizes and media types, and that each config has one diff ID per layer.
func buildGraph(m *Manifest, meta map[digest.Digest][]byte) (*graph, error) {
	listed := map[digest.Digest]ocispec.Descriptor{}
	for _, d := range m.Blobs {
		listed[d.Digest] = d
	}
	for _, d := range m.Expects {
		listed[d.Digest] = d
	}
	for _, r := range m.Recipes {
		listed[r.Layer.Digest] = r.Layer
	}
	g := &graph{DiffIDs: map[digest.Digest]digest.Digest{}}
	reached := map[digest.Digest]bool{}
	var problems []error
	bad := func(format string, args ...any) {
		problems = append(problems, fmt.Errorf("%w: %s", ErrImage, fmt.Sprintf(format, args...)))
	}
	ref := func(from string, d ocispec.Descriptor) bool {
		l, ok := listed[d.Digest]
		switch {
		case !ok:
			bad("%s references %s (%s), which the bundle neither carries nor expects", from, d.Digest, d.MediaType)
			return false
		case l.Size != d.Size:
			bad("%s references %s with size %d, bundle manifest says %d", from, d.Digest, d.Size, l.Size)
			return false
		case l.MediaType != d.MediaType:
			bad("%s references %s as %s, bundle manifest says %s", from, d.Digest, d.MediaType, l.MediaType)
			return false
		}
		reached[d.Digest] = true
		return true
	}
	var walk func(from string, d ocispec.Descriptor, depth int)
	walk = func(from string, d ocispec.Descriptor, depth int) {
		if !ref(from, d) || depth > 8 {
			return
		}
		b, ok := meta[d.Digest]
		if !ok {
			bad("%s: %s %s is not readable from the bundle", from, d.MediaType, d.Digest)
			return
		}
		name := fmt.Sprintf("%s %s", d.MediaType, d.Digest)
		if oci.IsIndex(d.MediaType) {
			ix, err := oci.ParseIndex(b)
			if err != nil {
				bad("%s: %v", name, err)
				return
			}
			for _, c := range ix.Manifests {
				walk("index "+d.Digest.String(), c, depth+1)
			}
			return
		}
		mf, err := oci.ParseManifest(b)
		if err != nil {
			bad("%s: %v", name, err)
			return
		}
		mname := "manifest " + d.Digest.String()
		if !ref(mname, mf.Config) {
			return
		}
		for _, l := range mf.Layers {
			ref(mname, l)
		}
		if !oci.IsImageConfig(mf.Config.MediaType) {
			return // an artifact: its config is opaque
		}
		cb, ok := meta[mf.Config.Digest]
		if !ok {
			bad("%s: config %s is not readable from the bundle", mname, mf.Config.Digest)
			return
		}
		var cfg ocispec.Image
		if err := json.Unmarshal(cb, &cfg); err != nil {
			bad("config %s: %v", mf.Config.Digest, err)
			return
		}
		if len(cfg.RootFS.DiffIDs) != len(mf.Layers) {
			bad("%s has %d layers but config %s lists %d diff IDs", mname, len(mf.Layers), mf.Config.Digest, len(cfg.RootFS.DiffIDs))
			return
		}
		for i, l := range mf.Layers {
			id := cfg.RootFS.DiffIDs[i]
			if prev, ok := g.DiffIDs[l.Digest]; ok && prev != id {
				bad("layer %s has diff ID %s in one config and %s in config %s", l.Digest, prev, id, mf.Config.Digest)
			}
			g.DiffIDs[l.Digest] = id
		}
	}
	for i, im := range m.Images {
		walk(fmt.Sprintf("image %d (%s)", i+1, imageName(im)), im.Descriptor, 0)
	}
	for _, r := range m.Recipes {
		if reached[r.Layer.Digest] {
			reached[r.Recipe.Digest] = true
		} else {
			bad("recipe layer %s (%s) is listed but no image uses it", r.Layer.Digest, r.Layer.MediaType)
		}
	}
	// Artifacts hang off what the images reach (or off each other): walk each once its
	// subject is reached; one whose subject never is would be stored unattached.
	done := make([]bool, len(m.Artifacts))
	for changed := true; changed; {
		changed = false
		for i, a := range m.Artifacts {
			if !done[i] && reached[a.Subject] {
				done[i], changed = true, true
				walk(fmt.Sprintf("artifact %d (%s of %s)", i+1, a.Kind, a.Subject), a.Descriptor, 0)
			}
		}
	}
	for i, a := range m.Artifacts {
		if !done[i] {
			bad("artifact %d (%s %s) is attached to %s, which no image of the bundle reaches", i+1, a.Kind, a.Descriptor.Digest, a.Subject)
		}
	}
	for _, d := range m.Blobs {
		if !reached[d.Digest] {
			bad("blob %s (%s) is listed but no image uses it", d.Digest, d.MediaType)
		}
	}
	for _, d := range m.Expects {
		if !reached[d.Digest] {
			bad("expected blob %s (%s) is listed but no image uses it", d.Digest, d.MediaType)
		}
	}
	if len(problems) > 0 {
		return g, &ProblemsError{Problems: problems}
	}
	return g, nil
}

func imageName(im Image) string {
	if im.Name != "" {
		return im.Name
	}
	return im.Descriptor.Digest.String()
}
