package registry

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/imgx/imgx/progress"
	"github.com/imgx/imgx/transport/retry"
)

// Options configures access to registries. The zero value uses HTTPS with the system's
// certificate pool, credentials from the Docker config, 4 parallel blob transfers and no
// retries.
type Options struct {
	// Keychain finds credentials; nil means authn.DefaultKeychain, which reads
	// $DOCKER_CONFIG/config.json or ~/.docker/config.json (credential helpers included)
	// the way docker and crane do, then $REGISTRY_AUTH_FILE and podman's auth.json.
	Keychain authn.Keychain
	// Insecure allows plain HTTP. Without it a registry that only speaks HTTP is refused,
	// even on loopback.
	Insecure bool
	// InsecureSkipTLSVerify accepts any server certificate.
	InsecureSkipTLSVerify bool
	// CAFile is a PEM file of certificates trusted besides the system pool.
	CAFile string
	// Jobs is the number of blobs transferred in parallel (default 4).
	Jobs int
	// Retries is how many times a transient failure (connection reset, timeout, 5xx, 429)
	// is retried, with exponential backoff. A download resumes at the byte it reached.
	Retries int
	// Notify, if set, is told about each retry.
	Notify func(op string, err error, attempt int, delay time.Duration)
	// RetryDelay is the first wait before a retry, doubled after each
	// failure in a row; 0 means 500ms (tests shorten it).
	RetryDelay time.Duration
	// Progress receives byte counts of the blobs transferred.
	Progress progress.Progress
	// Transport is the base HTTP transport; nil builds one from the TLS options. Tests
	// use it to put faults between imgx and a registry.
	Transport http.RoundTripper
}

// ErrPlainHTTP marks a refusal to talk plain HTTP to a registry without Options.Insecure.
var ErrPlainHTTP = errors.New("registry speaks plain HTTP; pass --insecure to allow it")

func (o *Options) jobs() int {
	if o.Jobs <= 0 {
		return 4
	}
	return o.Jobs
}

func (o *Options) keychain() authn.Keychain {
	if o.Keychain == nil {
		return authn.DefaultKeychain
	}
	return o.Keychain
}

// transport builds the HTTP transport: TLS settings, then the refusal of plain HTTP.
func (o *Options) transport() (http.RoundTripper, error) {
	rt := o.Transport
	if rt == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		cfg := &tls.Config{InsecureSkipVerify: o.InsecureSkipTLSVerify} //nolint:gosec // opt-in flag
		if o.CAFile != "" {
			pool, err := x509.SystemCertPool()
			if err != nil || pool == nil {
				pool = x509.NewCertPool()
			}
			pem, err := os.ReadFile(o.CAFile)
			if err != nil {
				return nil, fmt.Errorf("--ca-cert: %w", err)
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--ca-cert %s: no PEM certificate found", o.CAFile)
			}
			cfg.RootCAs = pool
		}
		t.TLSClientConfig = cfg
		t.MaxIdleConnsPerHost = o.jobs() + 2
		rt = t
	}
	if !o.Insecure {
		rt = httpsOnly{rt}
	}
	return rt, nil
}

// closeIdle drops the idle connections of a transport built by transport(), so that an
// operation does not leave sockets open after it returns (a transport passed in
// Options.Transport belongs to the caller and is left alone).
func (o *Options) closeIdle(rt http.RoundTripper) {
	if o.Transport != nil {
		return
	}
	if h, ok := rt.(httpsOnly); ok {
		rt = h.RoundTripper
	}
	if t, ok := rt.(*http.Transport); ok {
		t.CloseIdleConnections()
	}
}

// httpsOnly refuses plain-HTTP requests. go-containerregistry falls back to HTTP for
// loopback and private addresses on its own; imgx asks the user first.
type httpsOnly struct{ http.RoundTripper }

func (h httpsOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" {
		return nil, fmt.Errorf("%s: %w", req.URL.Host, ErrPlainHTTP)
	}
	return h.RoundTripper.RoundTrip(req)
}

// Host is the registry part of a reference ("docker.io" for "debian"), for messages; s
// itself when it does not parse.
func Host(s string) string {
	r, err := name.ParseReference(s)
	if err != nil {
		return s
	}
	return r.Context().RegistryStr()
}

// parse parses a reference the way docker does (docker.io and library/ implied).
func (o *Options) parse(s string) (name.Reference, error) {
	var opts []name.Option
	if o.Insecure {
		opts = append(opts, name.Insecure)
	}
	r, err := name.ParseReference(s, opts...)
	if err != nil {
		return nil, fmt.Errorf("reference %q: %w", s, err)
	}
	return r, nil
}

// remoteOptions are the go-containerregistry options shared by pull and push. Requests
// that go-containerregistry makes (manifests, tokens, uploads) are retried by it alone,
// with imgx's backoff (the first wait doubling up to 30s), retry count and classification
// of transient errors; blob downloads are imgx's own requests, retried by
// transport/retry's resuming reader alone (see blobs.open). No request is retried at two
// layers.
func (o *Options) remoteOptions(rt http.RoundTripper) []remote.Option {
	steps := o.Retries + 1
	return []remote.Option{
		remote.WithTransport(rt),
		remote.WithAuthFromKeychain(o.keychain()),
		remote.WithJobs(o.jobs()),
		remote.WithUserAgent("imgx"),
		remote.WithRetryBackoff(remote.Backoff{Duration: o.retryDelay(), Factor: 2, Jitter: 0.2, Steps: steps, Cap: 30 * time.Second}),
		remote.WithRetryPredicate(transient),
	}
}

// retryOptions is the same policy for transport/retry.
func (o *Options) retryOptions() retry.Options {
	n := o.Retries
	if n <= 0 {
		n = -1 // retry.Options: 0 would mean the default of 5
	}
	return retry.Options{MaxRetries: n, InitialDelay: o.retryDelay(), MaxDelay: 30 * time.Second, Notify: o.Notify}
}

func (o *Options) retryDelay() time.Duration {
	if o.RetryDelay > 0 {
		return o.RetryDelay
	}
	return 500 * time.Millisecond
}
