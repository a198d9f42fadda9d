package registry

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// blobs downloads blobs of one repository. go-containerregistry's layer reader cannot
// resume, so imgx issues the GET itself (authenticated by go-containerregistry's
// transport) and continues a broken download with a Range request.
type blobs struct {
	repo   name.Repository
	client *http.Client
	o      *Options
}

func newBlobs(ctx context.Context, repo name.Repository, base http.RoundTripper, o *Options) (*blobs, error) {
	auth, err := o.keychain().Resolve(repo)
	if err != nil {
		return nil, fmt.Errorf("credentials for %s: %w", repo.RegistryStr(), err)
	}
	rt, err := transport.NewWithContext(ctx, repo.Registry, auth, base, []string{repo.Scope(transport.PullScope)})
	if err != nil {
		return nil, classify(err)
	}
	return &blobs{repo: repo, client: &http.Client{Transport: rt}, o: o}, nil
}

// get opens blob d (of size bytes) at byte off.
func (b *blobs) get(ctx context.Context, d digest.Digest, off, size int64) (io.ReadCloser, error) {
	u := url.URL{Scheme: b.repo.Scheme(), Host: b.repo.RegistryStr(),
		Path: fmt.Sprintf("/v2/%s/blobs/%s", b.repo.RepositoryStr(), d)}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	if off > 0 {
		// A closed range: some registries reject the open-ended form.
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, size-1))
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return nil, err
	}
	if err := transport.CheckError(resp, http.StatusOK, http.StatusPartialContent); err != nil {
		resp.Body.Close()
		return nil, classify(err)
	}
	if off > 0 && resp.StatusCode == http.StatusOK {
		// The server ignored Range: skip what we already have.
		if _, err := io.CopyN(io.Discard, resp.Body, off); err != nil {
			resp.Body.Close()
			return nil, err
		}
	}
	return resp.Body, nil
}

// open returns a reader of blob d that, on a transient failure, reconnects and continues
// at the byte it reached, up to o.Retries times. The reader does not verify: the store
// hashes every byte it stages.
func (b *blobs) open(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	r := &resuming{ctx: ctx, b: b, d: d}
	err := b.o.retry(ctx, "GET blob "+d.Digest.String(), func() error {
		var err error
		r.rc, err = b.get(ctx, d.Digest, 0, d.Size)
		return err
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

type resuming struct {
	ctx     context.Context
	b       *blobs
	d       ocispec.Descriptor
	rc      io.ReadCloser
	off     int64
	retries int
}

func (r *resuming) Read(p []byte) (int, error) {
	for {
		n, err := r.rc.Read(p)
		r.off += int64(n)
		if err == nil || err == io.EOF {
			return n, err
		}
		if r.retries >= r.b.o.Retries || !transient(err) {
			return n, fmt.Errorf("after %d of %d bytes: %w", r.off, r.d.Size, err)
		}
		r.rc.Close()
		r.retries++
		delay := time.Duration(r.retries) * 500 * time.Millisecond
		if r.b.o.Notify != nil {
			r.b.o.Notify("GET blob "+r.d.Digest.String(), err, r.retries, delay)
		}
		select {
		case <-r.ctx.Done():
			r.rc = io.NopCloser(errReader{r.ctx.Err()})
			return n, nil
		case <-time.After(delay):
		}
		rc, gerr := r.b.get(r.ctx, r.d.Digest, r.off, r.d.Size)
		if gerr != nil {
			rc = io.NopCloser(errReader{fmt.Errorf("resume at byte %d: %w", r.off, gerr)})
		}
		r.rc = rc
		if n > 0 {
			return n, nil
		}
	}
}

func (r *resuming) Close() error { return r.rc.Close() }

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
