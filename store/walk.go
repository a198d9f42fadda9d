package store

import (
	"context"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/oci"
)

// Walk calls fn once for every descriptor reachable from roots (roots included), a
// manifest or index before what it lists, reading manifests and indexes from the store
// (verified). It stops at the first error.
func (s *Store) Walk(ctx context.Context, roots []ocispec.Descriptor, fn func(ocispec.Descriptor) error) error {
	seen := map[digest.Digest]bool{}
	var walk func(d ocispec.Descriptor) error
	walk = func(d ocispec.Descriptor) error {
		if seen[d.Digest] {
			return nil
		}
		seen[d.Digest] = true
		if err := fn(d); err != nil {
			return err
		}
		if !oci.IsManifest(d.MediaType) && !oci.IsIndex(d.MediaType) {
			return nil
		}
		data, err := s.ReadBlob(ctx, d)
		if err != nil {
			return err
		}
		kids, err := oci.Children(d.MediaType, data)
		if err != nil {
			return fmt.Errorf("%s: %w", d.Digest, err)
		}
		for _, k := range kids {
			if err := walk(k); err != nil {
				return err
			}
		}
		return nil
	}
	for _, r := range roots {
		if err := walk(r); err != nil {
			return err
		}
	}
	return nil
}
