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
	"os"
	"os/signal"
	"runtime/pprof"
	"sort"
	"strings"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/imgx/imgx/internal/safetext"
	"github.com/imgx/imgx/store"
)

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
	jsonDone       bool // a --json document went to Stdout (jsonout.go)
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
	fmt.Fprintf(e.Stderr, "imgx: warning: %s\n", safetext.Lines(fmt.Sprintf(format, args...)))
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

func run(ctx context.Context, args []string, e *Env) int {
	global := pflag.NewFlagSet("imgx", pflag.ContinueOnError)
	global.SetInterspersed(false)
	global.SetOutput(io.Discard)
	help := global.BoolP("help", "h", false, "show help")
	version := global.Bool("version", false, "print the version")
	global.StringVar(&e.storeDir, "store", "", "store directory (default $IMGX_STORE or ~/.local/share/imgx)")
	if err := global.Parse(args); err != nil {
		return fail(e, usageError{err.Error()})
	}
	rest := global.Args()
	if *version {
		fmt.Fprintln(e.Stdout, "imgx", Version)
		return exitOK
	}
	if len(rest) == 0 || *help || rest[0] == "help" {
		if len(rest) > 1 && rest[0] == "help" {
			if c, ok := commands[rest[1]]; ok {
				printCommandHelp(e.Stdout, c, commandFlags(c, e))
				return exitOK
			}
		}
		printHelp(e.Stdout)
		if len(rest) == 0 && !*help {
			return exitUsage
		}
		return exitOK
	}
	c, ok := commands[rest[0]]
	if !ok {
		return fail(e, withHint(usagef("unknown command %q", rest[0]), "run 'imgx --help' for the list of commands"))
	}
	fs := commandFlags(c, e)
	chelp := fs.BoolP("help", "h", false, "show help for "+c.Name)
	if err := fs.Parse(rest[1:]); err != nil {
		return fail(e, withHint(usageError{fmt.Sprintf("%s: %v", c.Name, err)}, "run 'imgx "+c.Name+" --help'"))
	}
	if *chelp {
		printCommandHelp(e.Stdout, c, fs)
		return exitOK
	}
	if c.Args != nil {
		if err := c.Args(fs.Args()); err != nil {
			return fail(e, withHint(fmt.Errorf("%s: %w", c.Name, err), "usage: imgx "+c.Name+" "+c.Usage))
		}
	}
	if err := c.Run(ctx, e, fs.Args()); err != nil {
		if ctx.Err() != nil {
			// Whatever failed, it failed because the signal closed it.
			if errors.Is(err, context.Canceled) {
				fmt.Fprintln(e.Stderr, "imgx: interrupted")
			} else {
				fmt.Fprintf(e.Stderr, "imgx: interrupted: %v\n", err)
			}
			return 130
		}
		return fail(e, err)
	}
	return exitOK
}

func commandFlags(c *Command, e *Env) *pflag.FlagSet {
	fs := pflag.NewFlagSet("imgx "+c.Name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	if c.Flags != nil {
		c.Flags(fs)
	}
	fs.StringVar(&e.storeDir, "store", e.storeDir, "store directory (default $IMGX_STORE or ~/.local/share/imgx)")
	return fs
}

func fail(e *Env, err error) int {
	fmt.Fprintf(e.Stderr, "imgx: error: %s\n", safetext.Lines(err.Error())) // errors quote outside names
	var h hintError
	if errors.As(err, &h) {
		fmt.Fprintf(e.Stderr, "imgx: hint: %s\n", h.hint)
	}
	var u usageError
	if errors.As(err, &u) {
		return exitUsage
	}
	return exitFailure
}

// Version is set at build time with -ldflags "-X main.Version=…".
var Version = "dev"

func printHelp(w io.Writer) {
	fmt.Fprint(w, `imgx moves container images to places a registry cannot reach, and proves on arrival
that they are exactly what was sent.

Usage:
  imgx [--store DIR] COMMAND [flags] [args]

Commands:
`)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].Short)
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

func printCommandHelp(w io.Writer, c *Command, fs *pflag.FlagSet) {
	fmt.Fprintf(w, "Usage: imgx %s %s\n\n%s\n", c.Name, c.Usage, c.Short)
	if c.Long != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.Long))
	}
	fmt.Fprintf(w, "\nFlags:\n%s", fs.FlagUsages())
	if c.Example != "" {
		fmt.Fprintf(w, "\nExamples:\n%s\n", strings.TrimRight(c.Example, "\n"))
	}
	fmt.Fprint(w, "\nExit codes: 0 success, 1 failure, 2 usage error.\n")
}
