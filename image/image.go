package image

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/internal/compress"
	"github.com/imgx/imgx/oci"
	"github.com/imgx/imgx/store"
)

// Fetcher reads blobs, verifying them against their descriptor (store.Fetcher;
// *store.Store is one).
type Fetcher = store.Fetcher

// Image is one platform's image: its manifest and config, parsed and raw.
type Image struct {
	Desc        ocispec.Descriptor // the manifest
	Index       *ocispec.Descriptor
	Manifest    *ocispec.Manifest
	RawManifest []byte
	Config      *v1.ConfigFile
	RawConfig   []byte
}

// ID is the image ID docker shows: the config digest.
func (im *Image) ID() digest.Digest { return im.Manifest.Config.Digest }

// Size is the stored size of the image: manifest, config and layers as stored.
func (im *Image) Size() int64 {
	n := im.Desc.Size + im.Manifest.Config.Size
	for _, l := range im.Manifest.Layers {
		n += l.Size
	}
	return n
}

// ErrNotImage marks a manifest whose config is not a container image's: an artifact.
var ErrNotImage = errors.New("not a container image")

// ErrPlatform marks a request for a platform the image does not have.
var ErrPlatform = errors.New("no image for platform")

// DefaultPlatform is the platform picked from a multi-platform index when none is given.
func DefaultPlatform() ocispec.Platform {
	return ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH}
}

// Load reads the image desc points at. If desc is an index, the manifest for platform p is
// chosen (nil means the default platform, or the only image in the index).
func Load(ctx context.Context, f Fetcher, desc ocispec.Descriptor, p *ocispec.Platform) (*Image, error) {
	data, err := store.ReadSmall(ctx, f, desc)
	if err != nil {
		return nil, err
	}
	im := &Image{Desc: desc}
	if oci.IsIndex(desc.MediaType) {
		ix, err := oci.ParseIndex(data)
		if err != nil {
			return nil, fmt.Errorf("index %s: %w", desc.Digest, err)
		}
		child, err := SelectPlatform(ix, p)
		if err != nil {
			return nil, fmt.Errorf("index %s: %w", desc.Digest, err)
		}
		d := desc
		im.Index = &d
		im.Desc = child
		if data, err = store.ReadSmall(ctx, f, child); err != nil {
			return nil, err
		}
	}
	if !oci.IsManifest(im.Desc.MediaType) {
		return nil, fmt.Errorf("%s: media type %q is not an image manifest", im.Desc.Digest, im.Desc.MediaType)
	}
	m, err := oci.ParseManifest(data)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", im.Desc.Digest, err)
	}
	im.Manifest, im.RawManifest = m, data
	if !oci.IsImageConfig(m.Config.MediaType) {
		return nil, fmt.Errorf("manifest %s: config type %s: %w", im.Desc.Digest, m.Config.MediaType, ErrNotImage)
	}
	if im.RawConfig, err = store.ReadSmall(ctx, f, m.Config); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(im.RawConfig))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", m.Config.Digest, err)
	}
	im.Config = cfg
	if p != nil && im.Index == nil && cfg.OS != "" && cfg.Architecture != "" {
		// A single-platform image asked for another platform: shipping it anyway would
		// hand an arm64 site an amd64 image with exit 0.
		have := ocispec.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}
		if have.OS != p.OS || have.Architecture != p.Architecture || (p.Variant != "" && have.Variant != p.Variant) {
			// Callers name the image as the user did; a manifest digest here would be a
			// name the user never saw.
			return nil, fmt.Errorf("%w %s: it is %s", ErrPlatform, PlatformString(*p), PlatformString(have))
		}
	}
	if n := len(cfg.RootFS.DiffIDs); n != len(m.Layers) {
		return nil, fmt.Errorf("manifest %s: config lists %d diff IDs for %d layers", im.Desc.Digest, n, len(m.Layers))
	}
	return im, nil
}

// SelectPlatform picks the manifest for p from an index; nil p picks the default platform,
// or the only entry.
func SelectPlatform(ix *ocispec.Index, p *ocispec.Platform) (ocispec.Descriptor, error) {
	var cands []ocispec.Descriptor
	for _, m := range ix.Manifests {
		if oci.IsManifest(m.MediaType) && !isAttestation(m) {
			cands = append(cands, m)
		}
	}
	if len(cands) == 0 {
		return ocispec.Descriptor{}, fmt.Errorf("no image manifests")
	}
	if p == nil {
		if len(cands) == 1 {
			return cands[0], nil
		}
		d := DefaultPlatform()
		p = &d
	}
	for _, m := range cands {
		if m.Platform != nil && m.Platform.OS == p.OS && m.Platform.Architecture == p.Architecture &&
			(p.Variant == "" || m.Platform.Variant == p.Variant) {
			return m, nil
		}
	}
	var have []string
	for _, m := range cands {
		if m.Platform != nil {
			have = append(have, PlatformString(*m.Platform))
		}
	}
	return ocispec.Descriptor{}, fmt.Errorf("%w %s (have %v)", ErrPlatform, PlatformString(*p), have)
}

func isAttestation(d ocispec.Descriptor) bool {
	return d.Annotations["vnd.docker.reference.type"] == "attestation-manifest"
}

// PlatformString formats p as os/arch[/variant].
func PlatformString(p ocispec.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// ParsePlatform parses os/arch[/variant].
func ParsePlatform(s string) (ocispec.Platform, error) {
	var p ocispec.Platform
	parts := bytes.Split([]byte(s), []byte("/"))
	if len(parts) < 2 || len(parts) > 3 || len(parts[0]) == 0 || len(parts[1]) == 0 {
		return p, fmt.Errorf("invalid platform %q: want OS/ARCH[/VARIANT]", s)
	}
	p.OS, p.Architecture = string(parts[0]), string(parts[1])
	if len(parts) == 3 {
		p.Variant = string(parts[2])
	}
	return p, nil
}

// OpenLayer opens layer i's uncompressed tar stream, verifying the compressed bytes
// against the manifest as they are read.
func (im *Image) OpenLayer(ctx context.Context, f Fetcher, i int) (io.ReadCloser, error) {
	desc := im.Manifest.Layers[i]
	rc, err := f.Fetch(ctx, desc)
	if err != nil {
		return nil, fmt.Errorf("layer %d (%s): %w", i, desc.Digest, err)
	}
	zr, _, err := compress.NewReader(rc, compress.Options{})
	if err != nil {
		rc.Close()
		return nil, fmt.Errorf("layer %d (%s): %w", i, desc.Digest, err)
	}
	return &stacked{Reader: zr, closers: []io.Closer{zr, rc}}, nil
}

type stacked struct {
	io.Reader
	closers []io.Closer
}

func (s *stacked) Close() error {
	var first error
	for _, c := range s.closers {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// MarshalConfig encodes a config the way imgx stores it.
func MarshalConfig(cfg *v1.ConfigFile) ([]byte, error) { return json.Marshal(cfg) }
