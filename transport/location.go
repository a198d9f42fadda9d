package transport

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
)

// Scheme names the kind of place a [Location] points at.
type Scheme string

const (
	Stdio Scheme = "-"    // standard input or output, handled by the caller
	File  Scheme = "file" // a local path
	SFTP  Scheme = "sftp"
	FTP   Scheme = "ftp"
	FTPS  Scheme = "ftps" // FTP with explicit TLS (AUTH TLS)
)

// Location is a parsed place: a local path or a server URL.
type Location struct {
	Scheme Scheme
	User   string // empty: from ~/.ssh/config, ~/.netrc, environment or defaults
	Host   string
	Port   int // 0: the scheme's default or ~/.ssh/config
	// Path is the local path for File, the path on the server for SFTP
	// (absolute, or starting with "~/" for the home directory, as curl
	// writes it sftp://host/~/x) and the path relative to the login
	// directory for FTP and FTPS. It keeps a trailing slash, which names a
	// directory.
	Path string
}

// ParseLocation parses one of:
//
//   - standard input/output
//     /path, ./path, path, file:///path     a local file or directory
//     sftp://[user@]host[:port]/path       path absolute on the server; /~/ is the home directory
//     ftp://[user@]host[:port]/path        path relative to the login directory
//     ftps://[user@]host[:port]/path       the same over explicit TLS
//
// A password in the URL is refused with [ErrPasswordInURL].
func ParseLocation(s string) (Location, error) {
	if s == "-" {
		return Location{Scheme: Stdio}, nil
	}
	if s == "" {
		return Location{}, fmt.Errorf("empty location: %w", ErrBadLocation)
	}
	scheme, _, ok := strings.Cut(s, "://")
	if !ok {
		if i := strings.Index(s, ":"); i > 1 && !strings.Contains(s[:i], "/") && looksLikeSCP(s) {
			return Location{}, fmt.Errorf("location %q: looks like scp syntax; write sftp://%s/%s: %w",
				s, s[:i], strings.TrimPrefix(s[i+1:], "/"), ErrBadLocation)
		}
		return Location{Scheme: File, Path: s}, nil
	}
	switch Scheme(strings.ToLower(scheme)) {
	case File:
		u, err := url.Parse(s)
		if err != nil {
			return Location{}, fmt.Errorf("location %q: %v: %w", s, err, ErrBadLocation)
		}
		if u.Host != "" && u.Host != "localhost" {
			return Location{}, fmt.Errorf("location %q: file URL with host %q: %w", s, u.Host, ErrBadLocation)
		}
		return Location{Scheme: File, Path: filepath.FromSlash(u.Path)}, nil
	case SFTP, FTP, FTPS:
	default:
		return Location{}, fmt.Errorf("location %q: unknown scheme %q (want file, sftp, ftp or ftps): %w", s, scheme, ErrBadLocation)
	}
	u, err := url.Parse(s)
	if err != nil {
		return Location{}, fmt.Errorf("location %q: %v: %w", redact(s), err, ErrBadLocation)
	}
	if _, has := u.User.Password(); has {
		return Location{}, fmt.Errorf("location %q: %w; put it in ~/.netrc or IMGX_FTP_PASSWORD, or use an SSH key", redact(s), ErrPasswordInURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return Location{}, fmt.Errorf("location %q: query or fragment not allowed: %w", s, ErrBadLocation)
	}
	l := Location{Scheme: Scheme(strings.ToLower(scheme)), Host: u.Hostname(), User: u.User.Username()}
	if l.Host == "" {
		return Location{}, fmt.Errorf("location %q: missing host: %w", s, ErrBadLocation)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Location{}, fmt.Errorf("location %q: bad port %q: %w", s, p, ErrBadLocation)
		}
		l.Port = n
	}
	p := u.Path
	switch l.Scheme {
	case SFTP:
		switch {
		case p == "/~" || p == "/~/":
			p = "~/"
		case strings.HasPrefix(p, "/~/"):
			p = p[1:]
		case p == "":
			p = "~/"
		}
	default:
		p = strings.TrimPrefix(p, "/")
		if p == "" {
			p = "./"
		}
	}
	l.Path = p
	return l, nil
}

// looksLikeSCP reports host:path forms such as "host:dir/x" or
// "user@host:x", which would otherwise become odd local file names.
func looksLikeSCP(s string) bool {
	host, _, _ := strings.Cut(s, ":")
	if at := strings.LastIndex(host, "@"); at >= 0 {
		host = host[at+1:]
	}
	return host != "" && net.ParseIP(host) == nil && !strings.ContainsAny(host, " ")
}

// IsRemote reports whether the location is on a server.
func (l Location) IsRemote() bool {
	return l.Scheme == SFTP || l.Scheme == FTP || l.Scheme == FTPS
}

// IsDir reports whether the location names a directory by its form (a
// trailing slash). A local path may still be a directory without one.
func (l Location) IsDir() bool {
	return strings.HasSuffix(l.Path, "/") || l.Path == "." || l.Path == "~"
}

// String renders the location as a URL or path, without any secret.
func (l Location) String() string {
	switch l.Scheme {
	case Stdio:
		return "-"
	case File:
		return l.Path
	}
	host := l.Host
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if l.Port != 0 {
		host += ":" + strconv.Itoa(l.Port)
	}
	if l.User != "" {
		host = url.PathEscape(l.User) + "@" + host
	}
	p := l.Path
	switch {
	case l.Scheme == SFTP && strings.HasPrefix(p, "~"):
		p = "/" + p
	case l.Scheme != SFTP:
		p = "/" + strings.TrimPrefix(p, "./")
	}
	return string(l.Scheme) + "://" + host + p
}

func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
