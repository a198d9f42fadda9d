package main

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/imgx/imgx/ref"
)

func init() {
	var o struct {
		semver string
		force  bool
	}
	register(&Command{
		Name:  "tag",
		Usage: "[flags] SRC DST... | --semver X.Y.Z SRC REPO",
		Short: "Give an image more names",
		Long: `Tag points one or more new tags at the image SRC names. With --semver it applies the
tag set recommended for releases (X.Y.Z, X.Y, X and latest) to REPO, moving floating
tags only forward: X.Y never moves to an older patch than it has, latest only to the
highest release and never to a pre-release.`,
		Example: `  imgx tag example/hello:1.0 example/hello:latest
  imgx tag --semver 1.9.2 app:build-412 registry.lan/app`,
		Flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&o.semver, "semver", "", "apply the semantic-version tag set for version X.Y.Z to REPO")
			fs.BoolVar(&o.force, "force", false, "with --semver, move an existing X.Y.Z tag that points at another image")
		},
		Args: minArgs(2, "SRC and at least one DST"),
		Run: func(ctx context.Context, e *Env, args []string) error {
			s, err := e.Store()
			if err != nil {
				return err
			}
			r, err := resolve(ctx, s, args[0])
			if err != nil {
				return err
			}
			if o.semver != "" {
				if len(args) != 2 {
					return usagef("--semver takes SRC and one REPO")
				}
				return semverTag(ctx, e, s, r.Desc, o.semver, args[1], o.force)
			}
			for _, dst := range args[1:] {
				t, err := ref.ParseNamed(dst)
				if err != nil {
					return usagef("%v", err)
				}
				if err := s.Tag(ctx, t, r.Desc); err != nil {
					return fmt.Errorf("tag %s: %w", dst, err)
				}
			}
			return nil
		},
	})
}
