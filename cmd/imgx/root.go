package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

const storeFlagUsage = "store directory (default $IMGX_STORE, else ${XDG_DATA_HOME:-~/.local/share}/imgx)"

// newRoot builds the cobra tree: the root with the global flags, one cobra.Command per
// registered Command, and help. Errors are printed by run, not by cobra.
func newRoot(ctx context.Context, e *Env) *cobra.Command {
	root := &cobra.Command{
		Use:   "imgx [--store DIR] COMMAND [flags] [args]",
		Short: "Move container images to places a registry cannot reach",
		Long: `imgx moves container images to places a registry cannot reach, and proves on arrival
that they are exactly what was sent.

Exit codes: 0 success, 1 failure (the error is printed on stderr as "imgx: error: ..."),
2 usage error (unknown command or flag, wrong arguments).`,
		Version:       version(),
		SilenceErrors: true,
		SilenceUsage:  true,
		// Bare imgx is a usage error: the list of commands goes to stderr, exit 2.
		RunE: func(cc *cobra.Command, args []string) error {
			printHelp(e.Stderr)
			return exitError{exitUsage}
		},
		Args: func(cc *cobra.Command, args []string) error {
			if len(args) > 0 {
				return unknownCommand(cc, args[0])
			}
			return nil
		},
		CompletionOptions:          cobra.CompletionOptions{DisableDefaultCmd: true},
		SuggestionsMinimumDistance: 2,
		DisableAutoGenTag:          true,
	}
	root.SetIn(e.Stdin)
	root.SetOut(e.Stdout)
	root.SetErr(e.Stderr)
	root.SetVersionTemplate("imgx {{.Version}}\n")
	// Set before cobra adds its own (-v for version, "help for imgx").
	root.Flags().BoolP("help", "h", false, "show help")
	root.Flags().Bool("version", false, "print the version")
	root.PersistentFlags().StringVar(&e.storeDir, "store", "", storeFlagUsage)
	_ = root.RegisterFlagCompletionFunc("store", func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return nil, cobra.ShellCompDirectiveFilterDirs
	})
	root.Flags().SortFlags = false
	root.PersistentFlags().SortFlags = false
	root.SetFlagErrorFunc(func(cc *cobra.Command, err error) error {
		if cc == root {
			return usageError{err.Error()}
		}
		return withHint(usageError{fmt.Sprintf("%s: %v", cc.Name(), err)}, "run 'imgx "+cc.Name()+" --help'")
	})
	root.SetHelpFunc(func(cc *cobra.Command, _ []string) {
		if cc == root {
			printHelp(cc.OutOrStdout())
			return
		}
		printCommandHelp(cc.OutOrStdout(), cc)
	})
	root.SetHelpCommand(&cobra.Command{
		Use:   "help [COMMAND]",
		Short: "Show the help of imgx or of a command",
		Args: func(cc *cobra.Command, args []string) error {
			if len(args) > 1 {
				return withHint(usagef("help: expected at most one COMMAND, got %d", len(args)), "usage: imgx help [COMMAND]")
			}
			return nil
		},
		RunE: func(cc *cobra.Command, args []string) error {
			if len(args) == 0 {
				printHelp(e.Stdout)
				return nil
			}
			c, rest, err := root.Find(args)
			if err != nil || c == root || len(rest) > 0 || c.Hidden {
				return unknownCommand(root, args[0])
			}
			printCommandHelp(e.Stdout, c)
			return nil
		},
		ValidArgsFunction: func(cc *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var out []cobra.Completion
			for _, c := range root.Commands() {
				if !c.Hidden && strings.HasPrefix(c.Name(), toComplete) {
					out = append(out, cobra.CompletionWithDesc(c.Name(), c.Short))
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		},
	})
	for _, name := range slices.Sorted(maps.Keys(commands)) {
		root.AddCommand(adapt(ctx, e, commands[name]))
	}
	return root
}
