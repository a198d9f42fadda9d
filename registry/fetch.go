package registry

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/transport/retry"
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
// at the byte it reached: transport/retry's resuming reader, the one retry policy of imgx,
// is the only layer that retries these requests (they do not go through
// go-containerregistry's retrying transport). The reader does not verify: the store
// hashes every byte it stages.
func (b *blobs) open(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	return retry.Reader(ctx, b.o.retryOptions(), "blob "+d.Digest.String(), func(err error) bool { return !transient(err) },
		func(ctx context.Context, off int64) (io.ReadCloser, error) {
			if off >= d.Size && off > 0 {
				return io.NopCloser(strings.NewReader("")), nil
			}
			return b.get(ctx, d.Digest, off, d.Size)
		})
}
