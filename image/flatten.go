package image

import (
	"context"
	"fmt"
	"io"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/image/rootfs"
)

// Layers returns openers for the image's uncompressed layer streams, bottom first, for
// the filesystem operations in package rootfs.
func (im *Image) Layers(f Fetcher) []rootfs.Opener {
	out := make([]rootfs.Opener, len(im.Manifest.Layers))
	for i := range out {
		i := i
		out[i] = func(ctx context.Context) (io.ReadCloser, error) { return im.OpenLayer(ctx, f, i) }
	}
	return out
}

// FlattenOptions tune [Flatten].
type FlattenOptions struct {
	Compression Compression
	Now         func() time.Time // creation time of the new image; default: the source's
}

// Flatten writes to tx (a store transaction stages it) a one-layer image with im's filesystem (whiteouts applied) and its
// config: Env, Entrypoint, Cmd, WorkingDir, User, ExposedPorts, Volumes, Labels and OnBuild
// are kept; the history is replaced by one entry naming the source manifest digest,
// because the old entries describe layers that no longer exist.
func Flatten(ctx context.Context, f Fetcher, tx BlobWriter, im *Image, opts FlattenOptions) (ocispec.Descriptor, error) {
	if opts.Compression == "" {
		opts.Compression = Gzip
	}
	layer, diffID, err := WriteLayer(ctx, tx, opts.Compression, func(w io.Writer) error {
		return rootfs.Flatten(ctx, im.Layers(f), w)
	})
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("flatten %s: %w", im.Desc.Digest, err)
	}
	cfg := im.Config.DeepCopy()
	// By default the flattened image keeps the source's creation time, so flattening the
	// same image twice gives the same digest (and a re-saved bundle the same bytes).
	now := cfg.Created
	if opts.Now != nil {
		now = v1.Time{Time: opts.Now().UTC()}
	}
	cfg.Created = now
	cfg.RootFS = v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{{Algorithm: "sha256", Hex: diffID.Encoded()}}}
	cfg.History = []v1.History{{
		Created:   now,
		CreatedBy: "imgx flatten",
		Comment:   fmt.Sprintf("flattened from %s (%d layers)", im.Desc.Digest, len(im.Manifest.Layers)),
	}}
	return WriteImage(ctx, tx, cfg, []ocispec.Descriptor{layer})
}
