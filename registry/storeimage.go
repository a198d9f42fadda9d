package registry

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/oci"
	"github.com/imgx/imgx/store"
)

// The store seen as go-containerregistry images and indexes, so that its pusher can send
// them. Manifests are served byte for byte from the store, so digests do not change.

type storeRef struct {
	ctx   context.Context
	s     *store.Store
	desc  ocispec.Descriptor
	raw   []byte
	mount func(digest.Digest) name.Reference // where a blob can be mounted from, or nil
}

func (p *Pusher) open(ctx context.Context, desc ocispec.Descriptor) (*storeRef, error) {
	raw, err := p.s.ReadBlob(ctx, desc)
	if err != nil {
		return nil, err
	}
	return &storeRef{ctx: ctx, s: p.s, desc: desc, raw: raw, mount: p.mountFrom}, nil
}

func (r *storeRef) child(h v1.Hash) (*storeRef, error) {
	ix, err := oci.ParseIndex(r.raw)
	if err != nil {
		return nil, err
	}
	for _, c := range ix.Manifests {
		if c.Digest.String() == h.String() {
			raw, err := r.s.ReadBlob(r.ctx, c)
			if err != nil {
				return nil, err
			}
			return &storeRef{ctx: r.ctx, s: r.s, desc: c, raw: raw, mount: r.mount}, nil
		}
	}
	return nil, fmt.Errorf("index %s has no manifest %s", r.desc.Digest, h)
}

// storeIndex implements v1.ImageIndex.
type storeIndex struct{ *storeRef }

func (i storeIndex) MediaType() (types.MediaType, error) {
	return types.MediaType(i.desc.MediaType), nil
}
func (i storeIndex) Digest() (v1.Hash, error)     { return v1.NewHash(i.desc.Digest.String()) }
func (i storeIndex) Size() (int64, error)         { return i.desc.Size, nil }
func (i storeIndex) RawManifest() ([]byte, error) { return i.raw, nil }
func (i storeIndex) IndexManifest() (*v1.IndexManifest, error) {
	return v1.ParseIndexManifest(bytes.NewReader(i.raw))
}

func (i storeIndex) Image(h v1.Hash) (v1.Image, error) {
	c, err := i.child(h)
	if err != nil {
		return nil, err
	}
	return c.image()
}

func (i storeIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	c, err := i.child(h)
	if err != nil {
		return nil, err
	}
	return storeIndex{c}, nil
}

// Layer serves children that are neither images nor indexes (artifacts) as blobs.
func (i storeIndex) Layer(h v1.Hash) (v1.Layer, error) {
	ix, err := oci.ParseIndex(i.raw)
	if err != nil {
		return nil, err
	}
	for _, c := range ix.Manifests {
		if c.Digest.String() == h.String() {
			return partial.CompressedToLayer(&storeBlob{i.storeRef, c})
		}
	}
	return nil, fmt.Errorf("index %s has no manifest %s", i.desc.Digest, h)
}

// storeImageCore implements partial.CompressedImageCore.
type storeImageCore struct {
	*storeRef
	m *ocispec.Manifest
}

func (r *storeRef) image() (v1.Image, error) {
	m, err := oci.ParseManifest(r.raw)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", r.desc.Digest, err)
	}
	img, err := partial.CompressedToImage(&storeImageCore{r, m})
	if err != nil {
		return nil, err
	}
	return &mountingImage{Image: img, mount: r.mount}, nil
}

func (c *storeImageCore) MediaType() (types.MediaType, error) {
	return types.MediaType(c.desc.MediaType), nil
}
func (c *storeImageCore) RawManifest() ([]byte, error) { return c.raw, nil }
func (c *storeImageCore) RawConfigFile() ([]byte, error) {
	return c.s.ReadBlob(c.ctx, c.m.Config)
}

func (c *storeImageCore) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if c.m.Config.Digest.String() == h.String() {
		return &storeBlob{c.storeRef, c.m.Config}, nil
	}
	for _, l := range c.m.Layers {
		if l.Digest.String() == h.String() {
			return &storeBlob{c.storeRef, l}, nil
		}
	}
	return nil, fmt.Errorf("manifest %s has no blob %s", c.desc.Digest, h)
}

// storeBlob implements partial.CompressedLayer over a committed blob.
type storeBlob struct {
	r *storeRef
	d ocispec.Descriptor
}

func (b *storeBlob) Digest() (v1.Hash, error)            { return v1.NewHash(b.d.Digest.String()) }
func (b *storeBlob) Size() (int64, error)                { return b.d.Size, nil }
func (b *storeBlob) MediaType() (types.MediaType, error) { return types.MediaType(b.d.MediaType), nil }
func (b *storeBlob) Compressed() (io.ReadCloser, error)  { return b.r.s.Fetch(b.r.ctx, b.d) }

// mountingImage offers each layer for a cross-repository mount when the registry is known
// to hold it in another repository.
type mountingImage struct {
	v1.Image
	mount func(digest.Digest) name.Reference
}

func (m *mountingImage) Layers() ([]v1.Layer, error) {
	ls, err := m.Image.Layers()
	if err != nil || m.mount == nil {
		return ls, err
	}
	for i, l := range ls {
		h, err := l.Digest()
		if err != nil {
			return nil, err
		}
		if from := m.mount(digest.Digest(h.String())); from != nil {
			ls[i] = &remote.MountableLayer{Layer: l, Reference: from}
		}
	}
	return ls, nil
}
