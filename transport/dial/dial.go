package dial

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/imgx/imgx/transport"
	"github.com/imgx/imgx/transport/ftp"
	"github.com/imgx/imgx/transport/local"
	"github.com/imgx/imgx/transport/retry"
	"github.com/imgx/imgx/transport/sftp"
)

// Options holds every backend's options; only the one matching the
// location's scheme is used.
type Options struct {
	Local local.Options
	SFTP  sftp.Options
	FTP   ftp.Options
	// Retry tunes retries of remote backends; NoRetry turns them off.
	// Retries happen at this one layer: the first connection and every
	// operation of the backend (transport/retry), resuming transfers.
	Retry   retry.Options
	NoRetry bool
	// IdleTimeout is how long a remote connection may stay silent (no
	// byte received, SFTP keepalives unanswered) before it is closed and
	// the transfer resumes on a new one; 0 means
	// transport.DefaultIdleTimeout. It fills SFTP.IdleTimeout and
	// FTP.IdleTimeout where those are unset.
	IdleTimeout time.Duration
	// Progress makes the progress display of [OpenInput] and [Write]; nil shows none.
	Progress NewProgress
}

// Open connects to the directory holding the file loc names and returns
// the backend with the file's name in it:
//
//	b, name, err := dial.Open(ctx, loc, opts)
//	res, err := transport.Put(ctx, b, name, bundleStream, transport.PutOptions{})
//
// A location ending in "/" names a directory and gives an error: use
// OpenDir for those. Standard input/output ("-") is the caller's.
func Open(ctx context.Context, loc transport.Location, opts Options) (transport.Backend, string, error) {
	if loc.Scheme == transport.Stdio {
		return nil, "", errors.New("open -: standard input/output is not a backend")
	}
	if loc.IsDir() {
		return nil, "", fmt.Errorf("open %s: names a directory, want a file", loc)
	}
	dir, name := splitPath(loc)
	if name == "" {
		return nil, "", fmt.Errorf("open %s: no file name", loc)
	}
	loc.Path = dir
	b, err := OpenDir(ctx, loc, opts)
	if err != nil {
		return nil, "", err
	}
	return b, name, nil
}

// OpenDir returns the backend rooted at the directory loc names (for
// listing, or for ingesting every bundle in it).
func OpenDir(ctx context.Context, loc transport.Location, opts Options) (transport.Backend, error) {
	if opts.SFTP.IdleTimeout <= 0 {
		opts.SFTP.IdleTimeout = opts.IdleTimeout
	}
	if opts.FTP.IdleTimeout <= 0 {
		opts.FTP.IdleTimeout = opts.IdleTimeout
	}
	var connect func() (transport.Backend, error)
	var permanent func(error) bool
	switch loc.Scheme {
	case transport.File:
		return local.New(loc.Path, opts.Local)
	case transport.SFTP:
		connect = func() (transport.Backend, error) {
			b, err := sftp.Dial(ctx, loc, opts.SFTP)
			if err != nil {
				return nil, err // not a typed nil in the interface
			}
			return b, nil
		}
		permanent = (*sftp.Backend)(nil).IsPermanent
	case transport.FTP, transport.FTPS:
		connect = func() (transport.Backend, error) {
			b, err := ftp.Dial(ctx, loc, opts.FTP)
			if err != nil {
				return nil, err
			}
			return b, nil
		}
		permanent = (*ftp.Backend)(nil).IsPermanent
	default:
		return nil, fmt.Errorf("open %s: no backend for scheme %q", loc, loc.Scheme)
	}
	if opts.NoRetry {
		return connect()
	}
	var b transport.Backend
	err := retry.Do(ctx, opts.Retry, "connect to "+loc.String(), permanent, func(int) (bool, error) {
		var err error
		b, err = connect()
		return false, err
	})
	if err != nil {
		return nil, err
	}
	return retry.New(b, opts.Retry), nil
}

func splitPath(loc transport.Location) (dir, name string) {
	if loc.Scheme == transport.File {
		d, n := filepath.Split(loc.Path)
		if d == "" {
			d = "."
		}
		return d, n
	}
	p := loc.Path
	i := strings.LastIndex(p, "/")
	if i < 0 {
		if loc.Scheme == transport.SFTP {
			return "~/", p
		}
		return "./", p
	}
	d := p[:i+1]
	if d == "/" || d == "" {
		d = "/"
	}
	return d, path.Base(p)
}

// UserDirExists is a small helper for the CLI: whether a local location
// is an existing directory (then "-o DIR" means "DIR/<default name>").
func UserDirExists(loc transport.Location) bool {
	if loc.Scheme != transport.File {
		return loc.IsDir()
	}
	fi, err := os.Stat(loc.Path)
	return err == nil && fi.IsDir()
}
