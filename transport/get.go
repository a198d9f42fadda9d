package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/imgx/imgx/progress"
)

var errExist = fs.ErrExist

// GetOptions tunes [Get]. The zero value is ready to use.
type GetOptions struct {
	// Progress receives the bytes of the file, the resumed prefix first.
	Progress progress.Progress
}

// Get downloads name into dst, continuing after the bytes dst already
// holds (a partial file from an interrupted Get). A dst longer than the
// remote file is started over. dst is synced at the end; renaming it to
// its final name is the caller's business. It returns the final size.
func Get(ctx context.Context, b Backend, name string, dst *os.File, opts GetOptions) (int64, error) {
	prog := progress.OrNoop(opts.Progress)
	defer prog.Done()
	fi, err := b.Stat(ctx, name)
	if err != nil {
		return 0, fmt.Errorf("get %s: %w", name, err)
	}
	if fi.IsDir {
		return 0, Permanent(fmt.Errorf("get %s: is a directory", name))
	}
	prog.SetTotal(fi.Size)
	local, err := dst.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, fmt.Errorf("get %s: %w", name, err)
	}
	if local > fi.Size {
		if err := dst.Truncate(0); err != nil {
			return 0, fmt.Errorf("get %s: %w", name, err)
		}
		if local, err = dst.Seek(0, io.SeekStart); err != nil {
			return 0, fmt.Errorf("get %s: %w", name, err)
		}
	}
	prog.Add(local)
	rd, err := b.Open(ctx, name, local)
	if err != nil {
		return local, fmt.Errorf("get %s at byte %d: %w", name, local, err)
	}
	defer rd.Close()
	// WriteTo lets pkg/sftp keep its reads pipelined; otherwise big reads
	// (a 32 KiB read is one request at a time, 3-4x slower on loopback).
	var n int64
	if wt, ok := rd.(io.WriterTo); ok {
		n, err = wt.WriteTo(progress.Writer(dst, prog))
	} else {
		n, err = io.CopyBuffer(progress.Writer(dst, prog), struct{ io.Reader }{rd}, make([]byte, 4<<20))
	}
	total := local + n
	if err != nil {
		return total, fmt.Errorf("get %s at byte %d: %w", name, total, err)
	}
	if total != fi.Size {
		return total, fmt.Errorf("get %s: got %d bytes, want %d: %w", name, total, fi.Size, io.ErrUnexpectedEOF)
	}
	if err := dst.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return total, fmt.Errorf("get %s: sync: %w", name, err)
	}
	return total, nil
}
