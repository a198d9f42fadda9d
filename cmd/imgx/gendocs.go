package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/spf13/cobra"
	cobradoc "github.com/spf13/cobra/doc"
	"github.com/spf13/pflag"
)

// The man pages (make man) and the Markdown reference in docs/cli/ are generated from
// the commands by the hidden `imgx __gendocs`, so they cannot drift from the help;
// TestCLIDocsCurrent fails when docs/cli/ was not regenerated.

func init() {
	var format string
	register(&Command{
		Name:   "__gendocs",
		Usage:  "[--format markdown|man] DIR",
		Short:  "Write the command reference (Markdown or man pages) into DIR",
		Hidden: true,
		Flags: func(fs *pflag.FlagSet) {
			fs.Var(newEnum(&format, "markdown", "markdown", "man"), "format", "markdown or man")
		},
		Args: exactArgs(1, "DIR"),
		Run: func(ctx context.Context, e *Env, args []string) error {
			f := format // newRoot binds the flags afresh, resetting format
			return genDocs(newRoot(ctx, &Env{Stdin: e.Stdin, Stdout: e.Stdout, Stderr: e.Stderr}), f, args[0])
		},
	})
}

// genDocs writes the reference of root's commands into dir, replacing the files an
// earlier run wrote there (imgx*.md or imgx*.1), so that removed commands disappear.
func genDocs(root *cobra.Command, format, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("gendocs: %w", err)
	}
	pattern := "imgx*.md"
	if format == "man" {
		pattern = "imgx*.1"
	}
	old, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		return fmt.Errorf("gendocs: %w", err)
	}
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return fmt.Errorf("gendocs: %w", err)
		}
	}
	// The reference is the same on every machine: defaults that depend on the host say so.
	arch := "(default linux/" + runtime.GOARCH + ")"
	for _, c := range root.Commands() {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			f.Usage = strings.ReplaceAll(f.Usage, arch, "(default linux/ and the architecture imgx runs on)")
		})
	}
	if format == "man" {
		err = cobradoc.GenManTree(root, &cobradoc.GenManHeader{Title: "IMGX", Section: "1", Source: "imgx " + version(), Manual: "imgx manual"}, dir)
	} else {
		err = cobradoc.GenMarkdownTree(root, dir)
	}
	if err != nil {
		return fmt.Errorf("gendocs: %w", err)
	}
	return nil
}
