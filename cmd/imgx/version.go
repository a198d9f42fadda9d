package main

import (
	"context"
	"fmt"
	"runtime/debug"
)

// Version is set at build time with -ldflags "-X main.Version=…" (make build). Without
// it, imgx reports the version the go command stamped into the binary: the module version
// for go install …@vX.Y.Z, a pseudo-version from the VCS for go build in a checkout.
var Version = "dev"

func version() string {
	info, _ := debug.ReadBuildInfo()
	return versionOf(Version, info)
}

func versionOf(ldflags string, info *debug.BuildInfo) string {
	if ldflags != "" && ldflags != "dev" {
		return ldflags
	}
	if info == nil {
		return "dev"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	// Built without module version (go test, GOFLAGS=-buildvcs=false, …): the commit
	// when the go command recorded one.
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev == "" {
		return "dev"
	}
	v := "dev-" + rev[:min(12, len(rev))]
	if modified == "true" {
		v += "-dirty"
	}
	return v
}

func init() {
	register(&Command{
		Name:  "version",
		Usage: "",
		Short: "Print the version of imgx",
		Long: `Version prints the version of imgx, as 'imgx --version' does: the release it was
built from, or the module pseudo-version go build and go install record.`,
		Example: `  imgx version`,
		Args:    exactArgs(0, "no arguments"),
		Run: func(ctx context.Context, e *Env, args []string) error {
			_, err := fmt.Fprintln(e.Stdout, "imgx", version())
			return err
		},
	})
}
