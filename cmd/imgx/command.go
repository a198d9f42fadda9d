package main

import (
	"context"

	"github.com/spf13/pflag"
)

// The command layer is github.com/spf13/cobra, the one docker, podman, skopeo, crane,
// oras, Zarf and Hauler use: dispatch, "did you mean", shell completion and man pages
// come from it. Commands still register a Command (below); newRoot adapts each one to a
// cobra.Command, so the cmd_*.go files know nothing of cobra.

// Command is one subcommand.
type Command struct {
	Name    string
	Usage   string // arguments after the name, e.g. "[flags] FILE|- NAME[:TAG]"
	Short   string // one line for the command list
	Long    string // description shown by --help
	Example string // shown by --help
	// Flags binds the command's flags; it is called once per run on a fresh FlagSet.
	Flags func(fs *pflag.FlagSet)
	// Args checks the positional arguments; nil means any.
	Args func(args []string) error
	Run  func(ctx context.Context, e *Env, args []string) error
	// Hidden leaves the command out of the help and the completions (internal tools).
	Hidden bool
}

var commands = map[string]*Command{}

func register(c *Command) {
	if _, dup := commands[c.Name]; dup {
		panic("duplicate command " + c.Name)
	}
	commands[c.Name] = c
}

func exactArgs(n int, names string) func([]string) error {
	return func(a []string) error {
		if len(a) != n {
			return usagef("expected %s, got %d argument(s)", names, len(a))
		}
		return nil
	}
}

func minArgs(n int, names string) func([]string) error {
	return func(a []string) error {
		if len(a) < n {
			return usagef("expected %s", names)
		}
		return nil
	}
}
