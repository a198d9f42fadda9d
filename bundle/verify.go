package bundle

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"

	"github.com/imgx/imgx/internal/compress"
	"github.com/imgx/imgx/internal/digestio"
	"github.com/imgx/imgx/oci"
	"github.com/imgx/imgx/store"
	"github.com/imgx/imgx/verify"
)

type verifyConfig struct {
	fast     bool
	store    *store.Store
	progress Progress
}

// VerifyOption tunes [Verify].
type VerifyOption func(*verifyConfig)

// Fast skips decompressing layers to check their diff IDs.
func Fast() VerifyOption { return func(c *verifyConfig) { c.fast = true } }

// WithStore checks that a delta bundle's expected blobs are in s.
func WithStore(s *store.Store) VerifyOption { return func(c *verifyConfig) { c.store = s } }

// WithProgress reports blob bytes checked.
func WithProgress(p Progress) VerifyOption { return func(c *verifyConfig) { c.progress = p } }

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
// manifest, and (unless [Fast]) each layer's diff ID. It collects every problem it can:
// a bad blob or signature does not stop the check; a broken archive structure does.
// The error is the report's Err, or a read failure before the manifest.
func Verify(ctx context.Context, r io.Reader, policy verify.Policy, opts ...VerifyOption) (*Report, error) {
	var cfg verifyConfig
	for _, o := range opts {
		o(&cfg)
	}
	ra := newReadAhead(ctx, r)
	defer ra.Close()
	rd, err := openStream(ctx, ra)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	m := rd.Manifest
	rep := &Report{Manifest: m, ManifestDigest: rd.ManifestDigest, Compression: string(rd.Kind),
		Images: m.Images, Base: m.Base, Expected: len(m.Expects)}
	problem := func(err error) { rep.Problems = append(rep.Problems, err) }

	rep.Signature, rep.SignatureErr = policy.Verify(rd.ManifestBytes, rd.Signatures)
	if rep.SignatureErr != nil {
		problem(fmt.Errorf("%w: %w", ErrSignature, rep.SignatureErr))
	}
	if cfg.store != nil {
		if err := checkBase(cfg.store, m); err != nil {
			problem(err)
		}
	}
	if err := rd.readFiles(); err != nil {
		problem(err)
		return rep, rep.Err()
	}
	total := m.TotalSize()
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
		if cfg.progress != nil {
			cfg.progress(rep.Bytes, total)
		}
		if e.Meta {
			continue // read and checked by nextBlob
		}
		var want digest.Digest
		if rd.Graph != nil && oci.IsLayer(e.Desc.MediaType) {
			want = rd.Graph.DiffIDs[e.Desc.Digest]
		}
		unpack := !cfg.fast && want != ""
		if err := checkBlob(e, rd.tr, unpack, want); err != nil {
			problem(fmt.Errorf("%s: %w", rd.blobName(i), err))
			if errors.Is(err, ErrTruncated) || errors.Is(err, ErrTooLarge) {
				break
			}
			continue
		}
		if unpack {
			rep.LayersUnpacked++
		}
	}
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
	return rep, rep.Err()
}

// checkBlob hashes a blob entry and, when unpack is set, decompresses it in a second
// goroutine and compares the uncompressed digest with diffID.
func checkBlob(e *blobEntry, src io.Reader, unpack bool, diffID digest.Digest) error {
	vr := digestio.NewDescriptorReader(src, e.Desc)
	if !unpack {
		if _, err := io.Copy(io.Discard, vr); err != nil {
			return blobErr(err)
		}
		return blobErr(vr.Verify())
	}
	pr, pw := io.Pipe()
	res := make(chan error, 1)
	go func() {
		res <- checkDiffID(pr, diffID)
		pr.CloseWithError(io.ErrClosedPipe) // unblock the writer if decompression stopped early
	}()
	_, cerr := io.Copy(pw, vr)
	pw.Close()
	derr := <-res
	if cerr != nil && !errors.Is(cerr, io.ErrClosedPipe) {
		return blobErr(cerr)
	}
	if errors.Is(cerr, io.ErrClosedPipe) {
		// Decompression ended first: finish hashing the compressed bytes.
		if _, err := io.Copy(io.Discard, vr); err != nil {
			return blobErr(err)
		}
	}
	if err := vr.Verify(); err != nil {
		return blobErr(err)
	}
	return derr
}

func checkDiffID(r io.Reader, want digest.Digest) error {
	dec, kind, err := compress.NewReader(r, compress.Options{})
	if err != nil {
		return fmt.Errorf("%w: decompress layer: %w", ErrImage, err)
	}
	defer dec.Close()
	h := sha256.New()
	if _, err := io.Copy(h, dec); err != nil {
		return fmt.Errorf("%w: decompress layer (%s): %w", ErrImage, kind, err)
	}
	io.Copy(io.Discard, r) // trailing bytes after the compressed stream still count in the digest
	if got := digest.NewDigest(digest.SHA256, h); got != want {
		return fmt.Errorf("%w: uncompressed layer hashes to %s, config says diff ID %s", ErrImage, got, want)
	}
	return nil
}

func blobErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, digestio.ErrDigestMismatch):
		return fmt.Errorf("%w: %w", ErrDigest, err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: %w", ErrTruncated, err)
	case errors.Is(err, digestio.ErrSizeMismatch):
		return fmt.Errorf("%w: %w", ErrSize, err)
	}
	return err
}
