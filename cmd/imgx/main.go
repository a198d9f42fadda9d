// Command imgx saves container images into signed, deduplicated bundles, ships them over
// SFTP, FTP or USB directories, and verifies them before loading them into a local store.
//
// This package is only the command line: flags, help, output and exit codes. Each
// subcommand lives in its own cmd_NAME.go file, registers itself in init, and calls one
// library function.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/imgx/imgx/internal/safetext"
	"github.com/imgx/imgx/progress"
	"github.com/imgx/imgx/store"
)

// The command layer is github.com/spf13/cobra, the one docker, podman, skopeo, crane,
// oras, Zarf and Hauler use: dispatch, "did you mean", shell completion and man pages
// come from it. Commands still register a Command (below); newRoot adapts each one to a
// cobra.Command, so the cmd_*.go files know nothing of cobra.

// Exit codes, documented in `imgx --help`.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

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

// Env is what a command may touch of the outside world.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	storeDir       string
	st             *store.Store
	jsonDone       bool      // a --json document went to Stdout (jsonout.go)
	bar            io.Writer // the progress bar drawn on Stderr, if any (track)
}

// track notes the progress renderer drawing on Stderr: while it is a bar, warnings and
// errors go through it, which erases the bar's line first so they do not run into it.
func (e *Env) track(p progress.Progress) {
	e.bar = nil
	if b, ok := p.(*progress.Bar); ok {
		e.bar = b
	}
}

// stderr is where warnings and errors go: Stderr, through the bar when one is drawn.
func (e *Env) stderr() io.Writer {
	if e.bar != nil {
		return e.bar
	}
	return e.Stderr
}

// Store opens the local store (--store, $IMGX_STORE, or the default location) on first use.
// It must exist: only the commands that add images create one (CreateStore), so that a
// mistyped path or an unmounted disk fails instead of reading as an empty, healthy store.
func (e *Env) Store() (*store.Store, error) { return e.openStore(false) }

// CreateStore is Store for the commands that add images: it creates an empty store.
func (e *Env) CreateStore() (*store.Store, error) { return e.openStore(true) }

func (e *Env) openStore(create bool) (*store.Store, error) {
	if e.st != nil {
		return e.st, nil
	}
	dir := e.storeDir
	if dir == "" {
		d, err := store.DefaultRoot()
		if err != nil {
			return nil, err
		}
		dir = d
	}
	open := store.OpenExisting
	if create {
		open = store.Open
	}
	s, err := open(dir)
	if errors.Is(err, store.ErrNoStore) {
		return nil, withHint(err, "check --store and IMGX_STORE; 'imgx import', 'load', 'pull' and 'ingest' create a store")
	}
	if err != nil {
		return nil, err
	}
	e.st = s
	return s, nil
}

// Warnf prints a warning on stderr; warnings never change the exit code. Control
// characters are escaped: warnings quote names from carriers and archives.
func (e *Env) Warnf(format string, args ...any) {
	fmt.Fprintf(e.stderr(), "imgx: warning: %s\n", safetext.Lines(fmt.Sprintf(format, args...)))
}

// usageError marks a mistake in how imgx was called (exit code 2).
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// hintError attaches a hint line to an error.
type hintError struct {
	err  error
	hint string
}

func (h hintError) Error() string { return h.err.Error() }
func (h hintError) Unwrap() error { return h.err }

func withHint(err error, hint string) error {
	if err == nil {
		return nil
	}
	return hintError{err, hint}
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

func main() {
	os.Exit(Main())
}

// Main runs imgx with os.Args and returns the exit code (used by tests via testscript).
func Main() int {
	// SIGINT or SIGTERM cancels ctx: transfers close their connections at
	// once (a read blocked on a silent link included), the store keeps what
	// was verified, and imgx exits 130 within moments. A second signal
	// kills at once, as if imgx caught none.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop)
	// IMGX_CPUPROFILE=FILE writes a CPU profile, for the bench scripts and bug reports.
	if f := os.Getenv("IMGX_CPUPROFILE"); f != "" {
		if out, err := os.Create(f); err == nil {
			if pprof.StartCPUProfile(out) == nil {
				defer pprof.StopCPUProfile()
			}
		}
	}
	return run(ctx, os.Args[1:], &Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
}

// run builds the command tree and executes args. A fresh tree per call: each command's
// Flags binds a fresh FlagSet, as the Command contract promises.
func run(ctx context.Context, args []string, e *Env) int {
	root := newRoot(ctx, e)
	if args == nil {
		args = []string{} // cobra reads os.Args when given nil
	}
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var x exitError
	if errors.As(err, &x) {
		return x.code
	}
	return fail(e, err)
}

func fail(e *Env, err error) int {
	fmt.Fprintf(e.stderr(), "imgx: error: %s\n", safetext.Lines(err.Error())) // errors quote outside names
	var h hintError
	if errors.As(err, &h) {
		fmt.Fprintf(e.stderr(), "imgx: hint: %s\n", h.hint)
	}
	var u usageError
	if errors.As(err, &u) {
		return exitUsage
	}
	return exitFailure
}

// exitError ends a run with a code and no further message (the message, if any, has
// been printed).
type exitError struct{ code int }

func (x exitError) Error() string { return fmt.Sprintf("exit %d", x.code) }

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
