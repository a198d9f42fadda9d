package dial

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/imgx/imgx/internal/safetext"
	"github.com/imgx/imgx/progress"
	"github.com/imgx/imgx/transport"
)

// NewProgress makes the progress display of one transfer: name is the file's name in its
// directory, remote whether the bytes cross the network. Its error is returned as it is.
// A nil NewProgress shows nothing.
type NewProgress func(name string, remote bool) (progress.Progress, error)

func (o Options) progress(name string, remote bool) (progress.Progress, error) {
	if o.Progress == nil {
		return progress.Noop, nil
	}
	p, err := o.Progress(name, remote)
	if err != nil {
		return nil, err
	}
	return progress.OrNoop(p), nil
}

// Input is a location opened for reading by [OpenInput]: either a stream (R) or, for a
// local directory such as an OCI layout, its path (Dir).
type Input struct {
	// R reads the file; nil when Dir is set. Closing it ends the progress display and
	// closes the backend.
	R io.ReadCloser
	// Dir is the path of a local directory, set instead of R.
	Dir string
	// Name is what to call the input in messages: the location as given, or the
	// directory's path.
	Name string
	// Size is the file's size, -1 if unknown.
	Size int64
	// At, for a local file, reads the same open file by offset, independently of R (see
	// bundle.VerifyOptions.At); nil for remote files, volume sets and directories.
	At io.ReaderAt
}

// OpenInput opens the file at location s (a path, file://, sftp://, ftp:// or ftps:// URL;
// not "-", standard input is the caller's) for reading. A local directory is returned as
// Input.Dir; anything else goes through a backend, which reads local volume sets (NAME.001,
// .002, …) as one file and, for remote ones, re-opens at the byte reached after a dropped
// connection. The path of a local location is the operator's: a link there is followed
// (the backend still opens only a regular file); links inside a carrier directory, which
// someone else wrote, are not.
func OpenInput(ctx context.Context, s string, opts Options) (*Input, error) {
	loc, err := transport.ParseLocation(s)
	if err != nil {
		return nil, err
	}
	if loc.Scheme == transport.Stdio {
		return nil, errors.New("open -: standard input is the caller's")
	}
	if loc.Scheme == transport.File {
		if fi, err := os.Stat(loc.Path); err == nil && fi.IsDir() {
			return &Input{Dir: loc.Path, Name: loc.Path}, nil
		}
		if p, err := filepath.EvalSymlinks(loc.Path); err == nil {
			loc.Path = p
		}
	}
	b, name, err := Open(ctx, loc, opts)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", safetext.Quote(s), err)
	}
	size := int64(-1)
	if fi, err := b.Stat(ctx, name); err == nil {
		size = fi.Size
	} else if b.IsNotExist(err) {
		b.Close()
		return nil, fmt.Errorf("open %s: %w", safetext.Quote(s), err)
	}
	rc, err := b.Open(ctx, name, 0)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("open %s: %w", safetext.Quote(s), err)
	}
	p, err := opts.progress(name, loc.IsRemote())
	if err != nil {
		rc.Close()
		b.Close()
		return nil, err
	}
	p.SetTotal(size)
	in := &Input{R: &readCloser{Reader: progress.Reader(rc, p), close: func() error {
		p.Done()
		err := rc.Close()
		b.Close()
		return err
	}}, Name: s, Size: size}
	if at, ok := rc.(io.ReaderAt); ok && loc.Scheme == transport.File {
		in.At = at
	}
	return in, nil
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r *readCloser) Close() error { return r.close() }

// WriteOptions tunes [Write]. The zero value is ready to use.
type WriteOptions struct {
	// Size is the expected size, 0 if unknown: a local target refuses early when its disk
	// is too small, and the progress display knows its total.
	Size int64
	// Verify reads the published file back and checks its size and sha256 against what
	// was sent.
	Verify bool
	// Put is the base of the upload's options (tests shrink the checkpoint interval);
	// Size and Progress are set by Write.
	Put transport.PutOptions
}

// WriteError is a failed upload: nothing was published under Name, and what was written
// is kept beside it (.NAME.imgx-part) for the same Write to resume.
type WriteError struct {
	Location string // as given to Write
	Name     string // the file's name in its directory
	// Permanent is the backend's verdict: retrying as it is will not help (a full disk,
	// a permission, a link planted on a carrier). Cancellation is not permanent.
	Permanent bool
	Err       error
}

// Error says what failed where: "write LOCATION: cause".
func (e *WriteError) Error() string { return fmt.Sprintf("write %s: %v", e.Location, e.Err) }

// Unwrap returns the backend's error.
func (e *WriteError) Unwrap() error { return e.Err }

// Write streams what fill writes to the file at location s (not "-": standard output is
// the caller's) through the location's backend: the bytes go to a temporary name and are
// published under the file's name only when complete (an atomic rename); an interrupted
// earlier upload of the same bytes is resumed (bundles are reproducible, so a re-run
// regenerates the prefix, which is checked against the checkpoint hashes saved beside
// .NAME.imgx-part, and only the rest is written; nothing is read back from the target);
// remote backends retry transient errors; local ones split volumes per
// Options.Local.SplitSize. With opts.Verify the published file is read back.
//
// A 30 GB bundle to a USB stick pulled out at 90% is worth resuming: that is why local
// paths resume like SFTP and FTP.
//
// An error of fill is returned as it is (it is the cause; the upload only saw its input
// end). A failed upload is a *[WriteError]. A failed read back returns the result together
// with the error.
func Write(ctx context.Context, s string, opts Options, wo WriteOptions, fill func(w io.Writer) error) (*transport.PutResult, error) {
	return write(ctx, s, opts, wo, func(put func(io.Reader) (transport.PutResult, error)) (transport.PutResult, error, error) {
		pr, pw := io.Pipe()
		fillErr := make(chan error, 1)
		go func() {
			err := fill(pw)
			pw.CloseWithError(err)
			fillErr <- err
		}()
		res, err := put(pr)
		pr.CloseWithError(errUploadStopped)
		if ferr := <-fillErr; ferr != nil && !errors.Is(ferr, errUploadStopped) {
			return res, ferr, nil
		}
		return res, nil, err
	})
}

// write is Write with the source left to send: it calls put with the stream and
// returns what put returned, plus the source's own error (fill's), which wins.
func write(ctx context.Context, s string, opts Options, wo WriteOptions, send func(put func(io.Reader) (transport.PutResult, error)) (res transport.PutResult, srcErr, err error)) (*transport.PutResult, error) {
	loc, err := transport.ParseLocation(s)
	if err != nil {
		return nil, err
	}
	b, name, err := Open(ctx, loc, opts)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", safetext.Quote(s), err)
	}
	if testHookBackend != nil {
		b = testHookBackend(s, b)
	}
	defer b.Close()
	p, err := opts.progress(name, loc.IsRemote())
	if err != nil {
		return nil, err
	}
	p.SetTotal(wo.Size)

	po := wo.Put
	po.Size, po.Progress = wo.Size, p
	res, srcErr, err := send(func(src io.Reader) (transport.PutResult, error) {
		return transport.Put(ctx, b, name, src, po)
	})
	if srcErr != nil {
		return nil, srcErr
	}
	if err != nil {
		return nil, &WriteError{Location: s, Name: name, Permanent: b.IsPermanent(err) && !errors.Is(err, context.Canceled), Err: err}
	}
	if wo.Verify {
		if testHookBeforeVerify != nil {
			testHookBeforeVerify(s)
		}
		if err := ReadBack(ctx, b, name, res); err != nil {
			return &res, fmt.Errorf("verify %s after writing: %w", s, err)
		}
	}
	return &res, nil
}

var errUploadStopped = errors.New("upload stopped")

// ReadBack re-reads the file name of b and compares its size and sha256 with res, what
// [transport.Put] sent; a difference is an error naming both.
func ReadBack(ctx context.Context, b transport.Backend, name string, res transport.PutResult) error {
	rc, err := b.Open(ctx, name, 0)
	if err != nil {
		return err
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); n != res.Size || got != res.SHA256 {
		return fmt.Errorf("read back %d bytes with sha256 %s, sent %d bytes with sha256 %s", n, got, res.Size, res.SHA256)
	}
	return nil
}
