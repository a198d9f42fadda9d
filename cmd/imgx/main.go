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
	"os"
	"os/signal"
	"runtime/pprof"
	"runtime/trace"
	"syscall"
)

// Exit codes, documented in `imgx --help`.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

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
	// IMGX_CPUPROFILE=FILE writes a CPU profile and IMGX_TRACE=FILE an execution trace (go
	// tool trace: where a pipeline waits), for the bench scripts and bug reports.
	if f := os.Getenv("IMGX_CPUPROFILE"); f != "" {
		if out, err := os.Create(f); err == nil {
			if pprof.StartCPUProfile(out) == nil {
				defer pprof.StopCPUProfile()
			}
		}
	}
	if f := os.Getenv("IMGX_TRACE"); f != "" {
		if out, err := os.Create(f); err == nil {
			if trace.Start(out) == nil {
				defer trace.Stop()
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
