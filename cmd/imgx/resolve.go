package main

import (
	"context"
	"errors"
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/image"
	"github.com/imgx/imgx/store"
)

// resolve finds an image in the store and turns not-found errors into ones with a hint.
func resolve(ctx context.Context, s *store.Store, in string) (store.Resolved, error) {
	r, err := s.Resolve(ctx, in)
	if errors.Is(err, store.ErrNotFound) {
		return r, withHint(err, "'imgx images' lists the images in "+s.Root())
	}
	return r, err
}

// loadImage resolves in and loads the image for platform (nil: default).
func loadImage(ctx context.Context, s *store.Store, in string, platform *ocispec.Platform) (*image.Image, store.Resolved, error) {
	r, err := resolve(ctx, s, in)
	if err != nil {
		return nil, r, err
	}
	im, err := image.Load(ctx, s, r.Desc, platform)
	if err != nil {
		return nil, r, fmt.Errorf("image %s: %w", in, err)
	}
	return im, r, nil
}

// openImage opens the store and loads image in for the --platform value given ("" for
// the default): the common start of every command that works on one image.
func openImage(ctx context.Context, e *Env, in, platform string) (*store.Store, *image.Image, error) {
	p, err := platformFlag(platform)
	if err != nil {
		return nil, nil, err
	}
	s, err := e.Store()
	if err != nil {
		return nil, nil, err
	}
	im, _, err := loadImage(ctx, s, in, p)
	return s, im, err
}
