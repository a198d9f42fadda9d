package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func printHelp(w io.Writer) {
	fmt.Fprint(w, `imgx moves container images to places a registry cannot reach, and proves on arrival
that they are exactly what was sent.

Usage:
  imgx [--store DIR] COMMAND [flags] [args]

Commands:
`)
	for _, n := range slices.Sorted(maps.Keys(commands)) {
		if !commands[n].Hidden {
			fmt.Fprintf(w, "  %-11s %s\n", n, commands[n].Short)
		}
	}
	fmt.Fprint(w, `
Global flags:
  --store DIR   the local store (default $IMGX_STORE, else ${XDG_DATA_HOME:-~/.local/share}/imgx)
  --version     print the version

Exit codes:
  0  success
  1  failure (the error is printed on stderr as "imgx: error: ...")
  2  usage error (unknown command or flag, wrong arguments)

Run 'imgx COMMAND --help' for a command's flags and examples.
`)
}

// printCommandHelp prints a command's help as imgx always has: the command's own flags
// in the order they were defined, then the global ones, then --help.
func printCommandHelp(w io.Writer, cc *cobra.Command) {
	fs := pflag.NewFlagSet(cc.Name(), pflag.ContinueOnError)
	fs.SortFlags = false
	var help *pflag.Flag
	inherited := cc.InheritedFlags()
	cc.Flags().VisitAll(func(f *pflag.Flag) { // definition order: cc.Flags() is unsorted
		switch {
		case f.Name == "help":
			help = f
		case inherited.Lookup(f.Name) == nil:
			fs.AddFlag(f)
		}
	})
	inherited.VisitAll(fs.AddFlag)
	if help != nil {
		fs.AddFlag(help)
	}
	use := strings.TrimPrefix(cc.Use, cc.Name())
	fmt.Fprintf(w, "Usage: imgx %s%s\n\n%s\n", cc.Name(), use, cc.Short)
	if cc.Long != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(cc.Long))
	}
	fmt.Fprintf(w, "\nFlags:\n%s", fs.FlagUsages())
	if cc.Example != "" {
		fmt.Fprintf(w, "\nExamples:\n%s\n", strings.TrimRight(cc.Example, "\n"))
	}
	fmt.Fprint(w, "\nExit codes: 0 success, 1 failure, 2 usage error.\n")
}
