package bundle

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/internal/compress"
	"github.com/imgx/imgx/internal/digestio"
	"github.com/imgx/imgx/oci"
)

// Verify of a bundle that can be read again by offset (VerifyOptions.At, a local file)
// checks diff IDs with independent readers instead of handing each layer's bytes from the
// one sequential pass to an inflater: that hand-over can only run ahead of the slowest
// inflater by a bounded buffer, so with bounded memory the inflaters barely overlapped.
// Here each of up to inflateWorkers workers reads the bundle from its start on its own,
// decodes the stream, skips the entries that are not its own and, for each layer it was
// given, hashes the compressed bytes and inflates and hashes them in the same pass. The
// main pass still checks the head, the signatures, the metadata and every other blob's
// digest, as --fast does; of a worker's layer it checks only the size, since the worker
// hashes the bytes it reads and those are the ones checked (a second SHA-256 of the bench
// bundle's 622 MB of layers is about 0.5 s of CPU at this machine's 1.3 GB/s; the A/B of
// whole verifies was within noise, 0.3 s less user CPU). The workers start only once the
// main pass has read the manifest and the configs (after the signature check), and they
// check against what it read: the manifest digest, each layer's descriptor and its diff
// ID. A worker trusts nothing of its own read: a carrier that returns other bytes the
// second time fails the layer.
//
// The cost: each worker decodes the stream up to its last layer (the raw zstd frames that
// carry compressed layers decode at memory speed); and the file is read once more
// per worker, from the page cache unless the bundle is larger than it. Memory: per worker,
// a zstd decoder, an inflater and a few 1 MiB buffers, instead of the 16 MiB pipe each
// inflater of the stream path may fill.

// layerJob is one layer a worker reads again to check its diff ID.
type layerJob struct {
	index  int // in Manifest.Blobs
	desc   ocispec.Descriptor
	diffID digest.Digest
	res    chan error // exactly one result, buffered: a worker never waits on Verify
}

// rereadCheck is the running set of workers; stop ends them.
type rereadCheck struct {
	jobs   map[int]*layerJob // by blob index
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// rereadWorkerStart, if set (tests), is called by each worker as it reaches its first
// layer, with the worker's number; it may block.
var rereadWorkerStart func(worker int)

// rereadJobs lists the layers from blob index from on whose diff ID is to be checked.
// Layers kept for the image check (skip) are left to the main pass.
func rereadJobs(m *Manifest, g *graph, from int, skip func(digest.Digest) bool) []*layerJob {
	var jobs []*layerJob
	if g == nil {
		return nil
	}
	for i := from; i < len(m.Blobs); i++ {
		d := m.Blobs[i]
		if !oci.IsLayer(d.MediaType) || skip(d.Digest) {
			continue
		}
		if want := g.DiffIDs[d.Digest]; want != "" {
			jobs = append(jobs, &layerJob{index: i, desc: d, diffID: want, res: make(chan error, 1)})
		}
	}
	return jobs
}

// assignJobs shares the jobs among at most n workers, largest layer first to the least
// loaded worker (longest processing time first), so that the workers finish together;
// each worker's layers come back in bundle order, the order it reads them in.
func assignJobs(jobs []*layerJob, n int) [][]*layerJob {
	n = min(n, len(jobs))
	if n <= 0 {
		return nil
	}
	bySize := slices.Clone(jobs)
	slices.SortStableFunc(bySize, func(a, b *layerJob) int {
		switch {
		case a.desc.Size > b.desc.Size:
			return -1
		case a.desc.Size < b.desc.Size:
			return 1
		}
		return a.index - b.index
	})
	out := make([][]*layerJob, n)
	load := make([]int64, n)
	for _, j := range bySize {
		w := 0
		for k := 1; k < n; k++ {
			if load[k] < load[w] {
				w = k
			}
		}
		out[w] = append(out[w], j)
		load[w] += j.desc.Size
	}
	for _, js := range out {
		slices.SortFunc(js, func(a, b *layerJob) int { return a.index - b.index })
	}
	return out
}

// startReread starts the workers over at for the jobs.
func startReread(ctx context.Context, at io.ReaderAt, m *Manifest, manifestDigest digest.Digest, jobs []*layerJob, workers int) *rereadCheck {
	ctx, cancel := context.WithCancel(ctx)
	rc := &rereadCheck{jobs: map[int]*layerJob{}, cancel: cancel}
	for _, j := range jobs {
		rc.jobs[j.index] = j
	}
	for w, js := range assignJobs(jobs, workers) {
		rc.wg.Add(1)
		go func() {
			defer rc.wg.Done()
			rereadWorker(ctx, w, at, m, manifestDigest, js)
		}()
	}
	return rc
}

// job returns the worker's job for blob index i, nil if none (or rc is nil).
func (rc *rereadCheck) job(i int) *layerJob {
	if rc == nil {
		return nil
	}
	return rc.jobs[i]
}

// stop cancels the workers and waits for them to end. rc may be nil.
func (rc *rereadCheck) stop() {
	if rc == nil {
		return
	}
	rc.cancel()
	rc.wg.Wait()
}

// ctxReaderAt reads at from off on, stopping with ctx's error once ctx is done.
type ctxReaderAt struct {
	ctx context.Context
	at  io.ReaderAt
	off int64
}

func (r *ctxReaderAt) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := r.at.ReadAt(p, r.off)
	r.off += int64(n)
	if n > 0 && err == io.EOF {
		err = nil // io.Reader: data first, io.EOF on the next call
	}
	return n, err
}

// rereadWorker reads the bundle again from its start and checks its jobs, in bundle
// order, sending exactly one result for each: once it cannot go on, every job left gets
// the reason.
func rereadWorker(ctx context.Context, w int, at io.ReaderAt, m *Manifest, manifestDigest digest.Digest, jobs []*layerJob) {
	next := 0
	fail := func(err error) {
		for ; next < len(jobs); next++ {
			jobs[next].res <- fmt.Errorf("read again to check its diff ID: %w", err)
		}
	}
	// openStream's goroutines let the worker return on ctx even while a ReadAt hangs (a
	// failing device); the reading goroutine ends when that ReadAt does.
	rd, err := openStream(ctx, &ctxReaderAt{ctx: ctx, at: at})
	if err != nil {
		fail(err)
		return
	}
	defer rd.Close()
	if rd.ManifestDigest != manifestDigest {
		fail(fmt.Errorf("%w: the bundle changed while it was verified: its manifest now hashes to %s, was %s", ErrDigest, rd.ManifestDigest, manifestDigest))
		return
	}
	if err := rd.readFiles(); err != nil {
		fail(err)
		return
	}
	br := bufio.NewReaderSize(nil, readAheadBuf)
	for i := 0; next < len(jobs); i++ {
		if err := ctx.Err(); err != nil {
			fail(err)
			return
		}
		d := m.Blobs[i]
		h, err := rd.nextHeader()
		switch {
		case err != nil:
			fail(err)
			return
		case h == nil:
			fail(fmt.Errorf("%w: archive ends at %s", ErrTruncated, rd.blobName(i)))
			return
		case h.Name != blobPath(d.Digest) || h.Size != d.Size:
			fail(fmt.Errorf("%w: the bundle changed while it was verified: entry %.80q of %d bytes where %s belongs", ErrMalformed, h.Name, h.Size, rd.blobName(i)))
			return
		}
		j := jobs[next]
		if j.index != i {
			continue // the tar reader skips the rest of the entry
		}
		if next == 0 && rereadWorkerStart != nil {
			rereadWorkerStart(w)
		}
		diffErr, readErr := checkLayerAgain(rd.tr, br, j)
		switch {
		case readErr != nil && ctx.Err() != nil:
			fail(ctx.Err())
			return
		case errors.Is(readErr, ErrTruncated) || errors.Is(readErr, ErrTooLarge):
			fail(readErr) // the stream itself broke: no later layer can be read
			return
		case errors.Is(readErr, ErrDigest):
			// The main pass checked only the size: this is the layer's digest check,
			// reported as the one pass reports it.
			j.res <- readErr
		case readErr != nil:
			j.res <- fmt.Errorf("read again to check its diff ID: %w", readErr)
		default:
			j.res <- diffErr
		}
		next++
	}
}

// checkLayerAgain hashes the layer entry src and checks it against the descriptor
// (readErr), and its uncompressed digest against the diff ID (diffErr), reading it once.
// br is a buffer to reuse. A readErr makes diffErr meaningless, as in the main pass,
// where a digest mismatch is reported instead of any diff ID problem.
func checkLayerAgain(src io.Reader, br *bufio.Reader, j *layerJob) (diffErr, readErr error) {
	vr := digestio.NewDescriptorReader(src, j.desc)
	br.Reset(vr)
	defer br.Reset(nil)
	kind, _ := compress.Detect(br)
	if kind == compress.None && j.desc.Digest.Algorithm() == digest.SHA256 {
		// Its digest is its diff ID: hashed once, as startBlob does.
		_, _ = io.Copy(io.Discard, br)
		if j.desc.Digest != j.diffID {
			diffErr = diffIDErr(j.desc.Digest, j.diffID)
		}
	} else {
		diffErr = checkDiffID(br, j.diffID)
		_, _ = io.Copy(io.Discard, br) // trailing bytes, or the rest after a failure
	}
	if err := vr.Verify(); err != nil {
		return nil, blobErr(err)
	}
	return diffErr, nil
}
