package bundle

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"runtime"

	"github.com/opencontainers/go-digest"

	"github.com/imgx/imgx/internal/compress"
	"github.com/imgx/imgx/internal/digestio"
	"github.com/imgx/imgx/oci"
	"github.com/imgx/imgx/progress"
	"github.com/imgx/imgx/store"
	"github.com/imgx/imgx/verify"
)

// VerifyOptions tune [Verify]. The zero value checks everything, trusting no key.
type VerifyOptions struct {
	// Policy decides whether the signatures are enough, as for [Load].
	Policy verify.Policy
	// Fast skips decompressing layers to check their diff IDs.
	Fast bool
	// Store, if set, is checked to hold a delta bundle's expected blobs.
	Store *store.Store
	// Progress is told the total blob bytes and the bytes checked; the caller ends it
	// (Done).
	Progress progress.Progress
	// CheckImages, if set, runs after every blob verified over the bundle's manifests,
	// configs and artifact layers (kept in memory for it, at most maxArtifactMem bytes):
	// what an image-signature policy reads. Its error is a problem of the report.
	CheckImages func(ctx context.Context, blobs BlobOpener, m *Manifest) error
	// At, if set, reads by offset the same bundle as Verify's r, from its first byte (a
	// local file: the *os.File r reads). With more than one core (GOMAXPROCS), the layers'
	// diff IDs are then checked by parallel workers that each read the bundle again
	// through At, rather than by inflating what the one sequential pass reads: see
	// reread.go. Each worker checks the bytes it reads against the digests the main pass
	// verified, so a source that changes between the reads fails. Leave it nil for a
	// stream (a pipe, a network source).
	At io.ReaderAt
}

// BlobOpener reads a blob by digest.
type BlobOpener interface {
	Open(ctx context.Context, d digest.Digest) (io.ReadCloser, error)
}

// maxArtifactMem bounds the artifact layers Verify keeps for an image check.
const maxArtifactMem = 64 << 20

// memBlobs serves the metadata and artifact layers Verify kept.
type memBlobs map[digest.Digest][]byte

func (m memBlobs) Open(_ context.Context, d digest.Digest) (io.ReadCloser, error) {
	b, ok := m[d]
	if !ok {
		return nil, fmt.Errorf("blob %s: %w (not kept for the image check)", d, store.ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// Report is what [Verify] found. It is returned whenever the manifest could be read.
type Report struct {
	Manifest       *Manifest
	ManifestDigest digest.Digest
	Compression    string
	Signature      verify.Result
	SignatureErr   error `json:"-"`
	Images         []Image
	Base           *BaseRef
	Expected       int     // blobs a delta expects the receiver to have
	BlobsChecked   int     // blobs whose digest and size were checked
	LayersUnpacked int     // layers decompressed and checked against their diff ID
	Bytes          int64   // blob bytes read
	Problems       []error `json:"-"`
	// LayerReaders is how many workers read the bundle again (VerifyOptions.At) to check
	// diff IDs in parallel; 0 when the one sequential pass handed the layers over.
	LayerReaders int `json:"-"`
}

// OK reports whether the bundle passed every check.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// Err returns nil or a *ProblemsError listing every problem.
func (r *Report) Err() error {
	if r.OK() {
		return nil
	}
	return &ProblemsError{Problems: r.Problems}
}

// Verify reads a whole bundle and checks everything a load would, and more, without
// writing anything: the signatures against the policy, every file and blob digest and
// size, the entry order, manifests and configs against each other and against the bundle
// manifest, and (unless Fast) each layer's diff ID. It collects every problem it can:
// a bad blob or signature does not stop the check; a broken archive structure does.
// The error is the report's Err, or a read failure before the manifest.
func Verify(ctx context.Context, r io.Reader, opts VerifyOptions) (*Report, error) {
	prog := progress.OrNoop(opts.Progress)
	rd, err := openStream(ctx, r)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	m := rd.Manifest
	rep := &Report{Manifest: m, ManifestDigest: rd.ManifestDigest, Compression: string(rd.Kind),
		Images: m.Images, Base: m.Base, Expected: len(m.Expects)}
	// Layers inflate in background workers (at most inflateWorkers at once; with At, in
	// workers that read the bundle again, see reread.go) while this goroutine reads on;
	// their diff ID results are settled in blob order before any later problem is
	// recorded, so the report reads as if every blob were checked in turn.
	var pending []pendingCheck
	cancelled := false
	settle := func() {
		for _, pc := range pending {
			if err := <-pc.res; err != nil {
				if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
					// Re-reading workers stop on cancellation: one problem says so.
					if cancelled {
						continue
					}
					cancelled = true
				}
				rep.Problems = append(rep.Problems, fmt.Errorf("%s: %w", pc.name, err))
			} else {
				rep.LayersUnpacked++
			}
		}
		pending = pending[:0]
	}
	problem := func(err error) {
		settle()
		rep.Problems = append(rep.Problems, err)
	}

	rep.Signature, rep.SignatureErr = opts.Policy.Verify(rd.ManifestBytes, rd.Signatures)
	if rep.SignatureErr != nil {
		problem(fmt.Errorf("%w: %w", ErrSignature, rep.SignatureErr))
	}
	if opts.Store != nil {
		if err := checkBase(opts.Store, m); err != nil {
			problem(err)
		}
	}
	if err := rd.readFiles(); err != nil {
		problem(err)
		return rep, rep.Err()
	}
	prog.SetTotal(m.TotalSize())
	sem := make(chan struct{}, inflateWorkers())
	kept := memBlobs{}
	var keptBytes int64
	var artLayers map[digest.Digest]bool
	// With a source to read again, the workers start at the first layer, once the
	// manifests and configs are read; they are stopped (and waited for) on any return.
	var again *rereadCheck
	defer func() { again.stop() }()
	for i := range m.Blobs {
		if err := ctx.Err(); err != nil {
			problem(err)
			break
		}
		e, err := rd.nextBlob(i, problem)
		if err != nil {
			problem(err)
			break
		}
		rep.BlobsChecked++
		rep.Bytes += e.Desc.Size
		prog.Add(e.Desc.Size)
		if e.Meta {
			if opts.CheckImages != nil && e.Data != nil {
				kept[e.Desc.Digest] = e.Data
			}
			continue // read and checked by nextBlob
		}
		if opts.CheckImages != nil {
			if artLayers == nil {
				artLayers = artifactLayers(m, rd.meta)
			}
			if artLayers[e.Desc.Digest] && keptBytes+e.Desc.Size <= maxArtifactMem {
				b, err := readAllN(rd.tr, e.Desc.Size)
				if err == nil && digest.FromBytes(b) != e.Desc.Digest {
					err = fmt.Errorf("%w: content hashes to %s", ErrDigest, digest.FromBytes(b))
				}
				if err != nil {
					problem(fmt.Errorf("%s: %w", rd.blobName(i), err))
					continue
				}
				kept[e.Desc.Digest] = b
				keptBytes += e.Desc.Size
				continue
			}
		}
		// On one core re-reading would only add the re-reads' work: the stream path stays.
		if opts.At != nil && !opts.Fast && again == nil && inflateWorkers() > 1 {
			skip := func(digest.Digest) bool { return false }
			if opts.CheckImages != nil {
				skip = func(d digest.Digest) bool { return artLayers[d] }
			}
			jobs := rereadJobs(m, rd.Graph, i, skip)
			again = startReread(ctx, opts.At, m, rd.ManifestDigest, jobs, inflateWorkers())
			rep.LayerReaders = min(len(jobs), inflateWorkers())
		}
		var res <-chan error
		unpack := false
		if j := again.job(i); j != nil {
			// A worker checks its digest and diff ID from its own read; here only its
			// size, so that its bytes are not hashed twice.
			err = drain(digestio.NewSizeReader(rd.tr, e.Desc.Size))
			res, unpack = j.res, true
		} else {
			var want digest.Digest
			if rd.Graph != nil && oci.IsLayer(e.Desc.MediaType) {
				want = rd.Graph.DiffIDs[e.Desc.Digest]
			}
			unpack = !opts.Fast && want != ""
			res, err = startBlob(e, rd.tr, unpack, want, sem)
		}
		if err != nil {
			problem(fmt.Errorf("%s: %w", rd.blobName(i), err))
			if errors.Is(err, ErrTruncated) || errors.Is(err, ErrTooLarge) {
				break
			}
			continue
		}
		switch {
		case unpack && res == nil: // uncompressed: its digest was its diff ID
			rep.LayersUnpacked++
		case unpack:
			pending = append(pending, pendingCheck{name: rd.blobName(i), res: res})
		}
	}
	settle()
	if len(rep.Problems) == 0 || rep.BlobsChecked == len(m.Blobs) {
		if err := rd.finish(); err != nil {
			var pe *ProblemsError
			if errors.As(err, &pe) {
				rep.Problems = append(rep.Problems, pe.Problems...)
			} else {
				problem(err)
			}
		}
	}
	if opts.CheckImages != nil && len(rep.Problems) == 0 {
		if err := opts.CheckImages(ctx, kept, m); err != nil {
			problem(err)
		}
	}
	return rep, rep.Err()
}

// artifactLayers lists the layers of the bundle's artifact manifests.
func artifactLayers(m *Manifest, meta map[digest.Digest][]byte) map[digest.Digest]bool {
	out := map[digest.Digest]bool{}
	for _, a := range m.Artifacts {
		if mf, err := oci.ParseManifest(meta[a.Descriptor.Digest]); err == nil {
			for _, l := range mf.Layers {
				out[l.Digest] = true
			}
		}
	}
	return out
}

// pendingCheck is a layer's diff ID check still running in a worker.
type pendingCheck struct {
	name string
	res  <-chan error
}

// inflateWorkers is how many layers Verify inflates at once: one per core.
func inflateWorkers() int { return max(1, runtime.GOMAXPROCS(0)) }

// inflateAheadBufs bounds, in readAheadBuf chunks, the compressed bytes one worker may hold
// not yet inflated. It is what lets the reader hand a layer over and go on to the next one
// while the worker is still inflating: with only a few chunks the reader would wait on each
// layer's inflater in turn and the workers would barely overlap. Memory: at most
// inflateWorkers × inflateAheadBufs MiB of compressed input.
const inflateAheadBufs = 16

// checkBlob hashes a blob entry and, when unpack is set, compares its uncompressed digest
// with diffID, waiting for the result. See startBlob.
func checkBlob(e *blobEntry, src io.Reader, unpack bool, diffID digest.Digest) error {
	res, err := startBlob(e, src, unpack, diffID, make(chan struct{}, 1))
	if err != nil || res == nil {
		return err
	}
	return <-res
}

// startBlob reads and hashes a blob entry to its end and returns the error of its digest
// and size. When unpack is set and the layer is compressed, it also starts a worker
// (taking a slot of sem, waiting for one if all are busy) that decompresses the layer and
// compares its uncompressed digest with diffID: the compressed bytes are handed over in
// 1 MiB chunks, at most inflateAheadBufs pending, and the worker's result arrives on res
// (nil res: nothing more to wait for). An uncompressed layer whose digest is sha256 is not
// hashed twice: once its digest verifies, its diff ID is that digest.
func startBlob(e *blobEntry, src io.Reader, unpack bool, diffID digest.Digest, sem chan struct{}) (res <-chan error, err error) {
	vr := digestio.NewDescriptorReader(src, e.Desc)
	if !unpack {
		return nil, drain(vr)
	}
	bp := aheadPool.Get().(*[]byte)
	first := (*bp)[:readAheadBuf]
	n, rerr := fill(vr, first)
	if rerr != nil && rerr != io.EOF {
		aheadPool.Put(bp)
		return nil, blobErr(rerr)
	}
	kind, _ := compress.Detect(bufio.NewReaderSize(bytes.NewReader(first[:min(n, 16)]), 16))
	if kind == compress.None && e.Desc.Digest.Algorithm() == digest.SHA256 {
		aheadPool.Put(bp)
		if err := drain(vr); err != nil {
			return nil, err
		}
		if e.Desc.Digest != diffID {
			return nil, diffIDErr(e.Desc.Digest, diffID)
		}
		return nil, nil
	}

	sem <- struct{}{}
	cp := newChunkPipeN(bp, n, inflateAheadBufs)
	out := make(chan error, 1)
	go func() {
		err := checkDiffID(cp, diffID)
		cp.drain() // trailing bytes, or the rest after a failure: let the reader finish
		cp.release()
		<-sem
		out <- err
	}()
	var cerr error
	if rerr == nil {
		cerr = cp.pump(vr)
	}
	cp.closeWrite()
	if cerr != nil {
		return nil, blobErr(cerr)
	}
	if err := vr.Verify(); err != nil {
		return nil, blobErr(err)
	}
	return out, nil
}

func checkDiffID(r io.Reader, want digest.Digest) error {
	dec, kind, err := compress.NewReader(r, compress.Options{})
	if err != nil {
		return fmt.Errorf("%w: decompress layer: %w", ErrImage, err)
	}
	defer dec.Close()
	// io.Copy takes the gzip reader's WriteTo, which hashes straight out of the inflate
	// window: no copy into buffers of ours, no goroutine to hand them to (cores are
	// already busy inflating other layers; hashing costs an eighth of inflating).
	h := sha256.New()
	if _, err := io.Copy(h, dec); err != nil {
		return fmt.Errorf("%w: decompress layer (%s): %w", ErrImage, kind, err)
	}
	if got := digest.NewDigest(digest.SHA256, h); got != want {
		return diffIDErr(got, want)
	}
	return nil
}

func diffIDErr(got, want digest.Digest) error {
	return fmt.Errorf("%w: uncompressed layer hashes to %s, config says diff ID %s", ErrImage, got, want)
}

// drain reads a blob entry to its end through vr and returns the error of vr's check.
func drain(vr *digestio.VerifyReader) error {
	if _, err := io.Copy(io.Discard, vr); err != nil {
		return blobErr(err)
	}
	return blobErr(vr.Verify())
}

// fill reads into b until it is full or r fails; io.EOF only with a short fill.
func fill(r io.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// chunkPipe hands pooled buffers from one goroutine to another without the lock-step of
// io.Pipe: the writer fills the next buffer while the reader consumes the previous one.
type chunkPipe struct {
	full, free chan *[]byte
	cur        *[]byte
	rest       []byte
	all        []*[]byte // every buffer the pipe holds; only the writer adds to it
	max        int
}

// chunkPipeBufs is how many buffers a chunkPipe takes from the pool at the start.
const chunkPipeBufs = 3

// newChunkPipeN starts a pipe of up to bufs buffers, taken from the pool only as the writer
// gets ahead of the reader, whose first chunk, if first is not nil, is (*first)[:n],
// already read.
func newChunkPipeN(first *[]byte, n, bufs int) *chunkPipe {
	cp := &chunkPipe{full: make(chan *[]byte, bufs), free: make(chan *[]byte, bufs), max: bufs}
	if first != nil {
		*first = (*first)[:n]
		cp.all = append(cp.all, first)
		cp.full <- first
	}
	for len(cp.all) < min(bufs, chunkPipeBufs) {
		b := aheadPool.Get().(*[]byte)
		cp.all = append(cp.all, b)
		cp.free <- b
	}
	return cp
}

// next returns a free buffer, taking a new one from the pool while under max.
func (cp *chunkPipe) next() *[]byte {
	select {
	case b := <-cp.free:
		return b
	default:
	}
	if len(cp.all) < cp.max {
		b := aheadPool.Get().(*[]byte)
		cp.all = append(cp.all, b)
		return b
	}
	return <-cp.free
}

// pump reads r chunk by chunk into the pipe until r ends; it returns r's error, not io.EOF.
func (cp *chunkPipe) pump(r io.Reader) error {
	for {
		b := cp.next()
		*b = (*b)[:readAheadBuf]
		n, err := fill(r, *b)
		*b = (*b)[:n]
		cp.full <- b
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (cp *chunkPipe) closeWrite() { close(cp.full) }

// Read implements io.Reader for the consuming goroutine.
func (cp *chunkPipe) Read(p []byte) (int, error) {
	for len(cp.rest) == 0 {
		if cp.cur != nil {
			cp.free <- cp.cur
			cp.cur = nil
		}
		b, ok := <-cp.full
		if !ok {
			return 0, io.EOF
		}
		cp.cur, cp.rest = b, *b
	}
	n := copy(p, cp.rest)
	cp.rest = cp.rest[n:]
	return n, nil
}

// drain consumes what is left, until the writer closes the pipe.
func (cp *chunkPipe) drain() {
	for {
		if cp.cur != nil {
			cp.free <- cp.cur
			cp.cur, cp.rest = nil, nil
		}
		b, ok := <-cp.full
		if !ok {
			return
		}
		cp.cur = b
	}
}

// release returns the buffers to the pool; both sides must be done.
func (cp *chunkPipe) release() {
	for _, b := range cp.all {
		*b = (*b)[:readAheadBuf]
		aheadPool.Put(b)
	}
}

// kindError adds a sentinel to err for errors.Is without repeating it in the message.
type kindError struct{ kind, err error }

func (e kindError) Error() string   { return e.err.Error() }
func (e kindError) Unwrap() []error { return []error{e.kind, e.err} }

func blobErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, digestio.ErrDigestMismatch):
		return kindError{ErrDigest, err} // err already says "digest mismatch"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: %w", ErrTruncated, err)
	case errors.Is(err, digestio.ErrSizeMismatch):
		return kindError{ErrSize, err}
	}
	return err
}
