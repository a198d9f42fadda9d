package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// adapt turns a registered Command into a cobra.Command.
func adapt(ctx context.Context, e *Env, c *Command) *cobra.Command {
	cc := &cobra.Command{
		Use:     strings.TrimSpace(c.Name + " " + c.Usage),
		Short:   c.Short,
		Long:    c.Long,
		Example: c.Example,
		Hidden:  c.Hidden,
		Args: func(cc *cobra.Command, args []string) error {
			if c.Args == nil {
				return nil
			}
			if err := c.Args(args); err != nil {
				return withHint(fmt.Errorf("%s: %w", c.Name, err), strings.TrimSpace("usage: imgx "+c.Name+" "+c.Usage))
			}
			return nil
		},
		RunE: func(cc *cobra.Command, args []string) error {
			err := c.Run(ctx, e, args)
			if err != nil && ctx.Err() != nil {
				// Whatever failed, it failed because the signal closed it.
				if errors.Is(err, context.Canceled) {
					fmt.Fprintln(e.stderr(), "imgx: interrupted")
				} else {
					fmt.Fprintf(e.stderr(), "imgx: interrupted: %v\n", err)
				}
				return exitError{130}
			}
			return err
		},
		ValidArgsFunction: argCompletion(e, c),
	}
	fs := cc.Flags()
	fs.SortFlags = false
	if c.Flags != nil {
		c.Flags(fs)
	}
	fs.BoolP("help", "h", false, "show help for "+c.Name)
	registerFlagCompletions(e, cc)
	return cc
}

// unknownCommand is the usage error for a command name imgx does not have, with cobra's
// suggestions (Levenshtein distance 2 or a common prefix).
func unknownCommand(root *cobra.Command, name string) error {
	hint := "run 'imgx --help' for the list of commands"
	if s := root.SuggestionsFor(name); len(s) > 0 {
		hint = fmt.Sprintf("did you mean %s? %s", quoteJoin(s), hint)
	}
	return withHint(usagef("unknown command %q", name), hint)
}

func quoteJoin(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = "'" + n + "'"
	}
	return strings.Join(q, " or ")
}
