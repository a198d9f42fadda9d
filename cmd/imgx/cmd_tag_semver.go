package main

import (
	"context"
	"errors"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/store"
)

func semverTag(ctx context.Context, e *Env, s *store.Store, desc ocispec.Descriptor, version, repo string) error {
	return errors.New("--semver: not wired yet")
}
