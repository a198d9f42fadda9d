package main

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/imgx/imgx/intake"
	"github.com/imgx/imgx/transport"
	"github.com/imgx/imgx/transport/dial"
	"github.com/imgx/imgx/transport/local"
)

// openInput opens a LOCATION for reading: "-" is standard input (never a terminal),
// anything else goes through dial.OpenInput; the result is what the trust gate (intake)
// reads, and done closes it.
func openInput(ctx context.Context, e *Env, s string, tf *transportFlags) (intake.Input, func(), error) {
	var in *dial.Input
	loc, err := transport.ParseLocation(s)
	switch {
	case err != nil:
		return intake.Input{}, nil, usagef("%v", err)
	case loc.Scheme == transport.Stdio:
		if f, ok := e.Stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			return intake.Input{}, nil, withHint(usagef("standard input is a terminal"), "pipe a file in, or give a file or URL")
		}
		in = &dial.Input{R: io.NopCloser(e.Stdin), Name: "standard input", Size: -1}
	default:
		opts, err := tf.options(e)
		if err != nil {
			return intake.Input{}, nil, err
		}
		if in, err = dial.OpenInput(ctx, s, opts); err != nil {
			return intake.Input{}, nil, err
		}
	}
	if in.Dir != "" { // an OCI layout directory is read by path
		return intake.Input{Name: in.Name, Dir: in.Dir}, func() {}, nil
	}
	return intake.Input{Name: in.Name, R: in.R, At: in.At}, func() { in.R.Close() }, nil
}

// outputResult describes a finished write to a LOCATION.
type outputResult struct {
	Location string `json:"location"`
	Size     int64  `json:"size"`
	Resumed  int64  `json:"resumed"`
	SHA256   string `json:"sha256"`
	// With several -o (save_outputs.go): one entry per destination, and how many failed;
	// the fields above are then those of a destination that was published.
	destinations []destinationJSON
	failed       int
}

// progressModes are the values of --progress.
var progressModes = []string{"auto", "bar", "plain", "none"}

// checkOutput returns the usage errors of an output LOCATION (malformed, a terminal, a
// directory, a bad --split-size), so that a command can refuse before it does any work.
func checkOutput(e *Env, s string, tf *transportFlags) error {
	loc, err := transport.ParseLocation(s)
	if err != nil {
		return usagef("%v", err)
	}
	if loc.Scheme == transport.Stdio {
		if f, ok := e.Stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			return withHint(usagef("refusing to write binary data to a terminal"), "use -o FILE or redirect standard output")
		}
		return nil
	}
	if loc.IsDir() || dial.UserDirExists(loc) {
		return usagef("output %s is a directory: name the file, e.g. %s/images.imgx", s, strings.TrimSuffix(s, "/"))
	}
	_, err = tf.options(e)
	return err
}

// writeLocation streams what fill writes to a LOCATION: standard output for "-" (never a
// terminal), else dial.Write (atomic publish, resume, retries and, with verifyAfter, a read
// back). sizeHint (0 if unknown) lets a local target refuse early when the disk is too small.
func writeLocation(ctx context.Context, e *Env, s string, tf *transportFlags, sizeHint int64, verifyAfter bool, fill func(w io.Writer) error) (*outputResult, error) {
	if err := checkOutput(e, s, tf); err != nil {
		return nil, err
	}
	if s == "-" {
		return &outputResult{Location: "-"}, fill(e.Stdout)
	}
	opts, err := tf.options(e)
	if err != nil {
		return nil, err
	}
	res, err := dial.Write(ctx, s, opts, dial.WriteOptions{Size: sizeHint, Verify: verifyAfter, Put: putTuning}, fill)
	if we := (*dial.WriteError)(nil); errors.As(err, &we) {
		hint := "the partial upload is kept: run the same command again to resume"
		switch {
		case errors.Is(err, local.ErrSymlink) || errors.Is(err, local.ErrNotRegular) || errors.Is(err, local.ErrLinked):
			hint = "nothing was published under " + we.Name + "; imgx does not write through links, special files or hard links it finds on a carrier"
		case we.Permanent:
			hint = "nothing was published under " + we.Name + "; what was written is kept beside it, and the same command resumes from there once the cause is fixed"
		}
		return nil, withHint(err, hint)
	}
	if res != nil && res.Resumed > 0 {
		e.Warnf("resumed an interrupted upload: %s were already there", humanSize(res.Resumed))
	}
	if err != nil {
		return nil, err
	}
	return &outputResult{Location: s, Size: res.Size, Resumed: res.Resumed, SHA256: res.SHA256}, nil
}

// putTuning is the base of every upload's options; tests shrink the checkpoint interval
// so that resume is exercised with little data.
var putTuning transport.PutOptions
