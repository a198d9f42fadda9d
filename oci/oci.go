// Package oci knows the OCI and Docker schema-2 media types and how manifests and indexes
// reference other blobs: the content graph that the store walks for checks and garbage
// collection, and that readers walk to find every blob an image needs.
package oci

//lint:file-ignore SA1019 non-distributable layer types are deprecated for new images, but images that use them still have to be read

import (
	"encoding/json"
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Docker schema-2 media types, which OCI tools accept alongside ocispec's.
const (
	DockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	DockerConfig       = "application/vnd.docker.container.image.v1+json"
	DockerLayer        = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	DockerLayerForeign = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
)

// IsManifest reports whether mt is an image manifest media type.
func IsManifest(mt string) bool {
	return mt == ocispec.MediaTypeImageManifest || mt == DockerManifest
}

// IsImageConfig reports whether mt is a container image's config media type (OCI or
// Docker); any other config makes the manifest an artifact.
func IsImageConfig(mt string) bool {
	return mt == ocispec.MediaTypeImageConfig || mt == DockerConfig
}

// IsIndex reports whether mt is an index (manifest list) media type.
func IsIndex(mt string) bool {
	return mt == ocispec.MediaTypeImageIndex || mt == DockerManifestList
}

// IsLayer reports whether mt is a layer media type (any compression).
func IsLayer(mt string) bool {
	switch mt {
	case ocispec.MediaTypeImageLayer, ocispec.MediaTypeImageLayerGzip, ocispec.MediaTypeImageLayerZstd,
		ocispec.MediaTypeImageLayerNonDistributable, ocispec.MediaTypeImageLayerNonDistributableGzip,
		ocispec.MediaTypeImageLayerNonDistributableZstd,
		DockerLayer, DockerLayerForeign, "application/vnd.docker.image.rootfs.diff.tar":
		return true
	}
	return false
}

// sniff is the subset of manifest and index fields needed to tell them apart and walk them.
type sniff struct {
	SchemaVersion int                  `json:"schemaVersion"`
	MediaType     string               `json:"mediaType,omitempty"`
	Config        *ocispec.Descriptor  `json:"config,omitempty"`
	Layers        []ocispec.Descriptor `json:"layers,omitempty"`
	Manifests     []ocispec.Descriptor `json:"manifests,omitempty"`
	Subject       *ocispec.Descriptor  `json:"subject,omitempty"`
}

// MediaTypeOf returns the media type of a manifest or index document: its own mediaType
// field, else the one its shape implies (OCI allows the field to be absent).
func MediaTypeOf(data []byte) (string, error) {
	var s sniff
	if err := json.Unmarshal(data, &s); err != nil {
		return "", fmt.Errorf("parse manifest: %w", err)
	}
	if s.MediaType != "" {
		return s.MediaType, nil
	}
	switch {
	case s.Manifests != nil:
		return ocispec.MediaTypeImageIndex, nil
	case s.Config != nil:
		return ocispec.MediaTypeImageManifest, nil
	}
	return "", fmt.Errorf("parse manifest: neither a manifest nor an index")
}

// Children returns the descriptors a manifest or index (of media type mt) references.
// Other media types have no children. A subject (referrers API) is not a child: the
// artifact points at it, it does not contain it.
func Children(mt string, data []byte) ([]ocispec.Descriptor, error) {
	if !IsManifest(mt) && !IsIndex(mt) {
		return nil, nil
	}
	var s sniff
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("parse %s: %w", mt, err)
	}
	if s.SchemaVersion != 2 {
		return nil, fmt.Errorf("parse %s: unsupported schemaVersion %d", mt, s.SchemaVersion)
	}
	if s.MediaType != "" && s.MediaType != mt {
		return nil, fmt.Errorf("parse %s: document says mediaType %s", mt, s.MediaType)
	}
	var out []ocispec.Descriptor
	if IsIndex(mt) {
		out = append(out, s.Manifests...)
	} else {
		if s.Config == nil {
			return nil, fmt.Errorf("parse %s: no config", mt)
		}
		out = append(out, *s.Config)
		out = append(out, s.Layers...)
	}
	for i, d := range out {
		if err := d.Digest.Validate(); err != nil {
			return nil, fmt.Errorf("parse %s: descriptor %d: %w", mt, i, err)
		}
		if d.Size < 0 {
			return nil, fmt.Errorf("parse %s: descriptor %d: negative size", mt, i)
		}
	}
	return out, nil
}

// ParseManifest parses an image manifest (OCI or Docker schema 2).
func ParseManifest(data []byte) (*ocispec.Manifest, error) {
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("parse manifest: %w", err)
	}
	if m.SchemaVersion != 2 {
		return nil, fmt.Errorf("parse manifest: unsupported schemaVersion %d", m.SchemaVersion)
	}
	if m.Config.Digest == "" {
		return nil, fmt.Errorf("parse manifest: no config")
	}
	return &m, nil
}

// ParseIndex parses an image index (OCI or Docker manifest list).
func ParseIndex(data []byte) (*ocispec.Index, error) {
	var ix ocispec.Index
	if err := json.Unmarshal(data, &ix); err != nil {
		return nil, fmt.Errorf("parse index: %w", err)
	}
	if ix.SchemaVersion != 2 {
		return nil, fmt.Errorf("parse index: unsupported schemaVersion %d", ix.SchemaVersion)
	}
	return &ix, nil
}
