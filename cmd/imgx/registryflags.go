package main

import (
	"crypto/tls"
	"errors"
	"time"

	"github.com/spf13/pflag"

	"github.com/imgx/imgx/registry"
)

// registryFlags are the flags of the commands that talk to a registry (pull, push).
type registryFlags struct {
	insecure    bool
	insecureTLS bool
	caCert      string
	retries     int
	jobs        int
	progress    string
}

func (r *registryFlags) add(fs *pflag.FlagSet) {
	fs.BoolVar(&r.insecure, "insecure", false, "allow plain HTTP (registries on a trusted network only)")
	fs.BoolVar(&r.insecureTLS, "insecure-skip-tls-verify", false, "accept any server certificate (allows a man in the middle)")
	fs.StringVar(&r.caCert, "ca-cert", "", "trust this CA certificate file besides the system pool")
	fs.Var(newIntRange(&r.retries, 5, 0), "retries", "retries of transient network errors, with backoff (0: none); downloads resume")
	fs.Var(newIntRange(&r.jobs, 4, 1), "jobs", "blobs transferred in parallel")
	fs.Var(newEnum(&r.progress, "auto", progressModes...), "progress", "progress display: auto, bar, plain or none")
}

func (r *registryFlags) options(e *Env, label string) (registry.Options, error) {
	if r.jobs < 1 {
		return registry.Options{}, usagef("--jobs must be at least 1")
	}
	p, err := newProgress(e, r.progress, label, true)
	if err != nil {
		return registry.Options{}, err
	}
	return registry.Options{
		Insecure:              r.insecure,
		InsecureSkipTLSVerify: r.insecureTLS,
		CAFile:                r.caCert,
		Jobs:                  r.jobs,
		Retries:               max(r.retries, 0),
		Progress:              p,
		Notify: func(op string, err error, attempt int, delay time.Duration) {
			e.Warnf("%s: %v; retry %d/%d in %s", op, err, attempt, r.retries, delay.Round(100*time.Millisecond))
		},
	}, nil
}

// registryHint adds advice to the registry errors users can act on.
func registryHint(err error, registryHost string) error {
	switch {
	case errors.As(err, new(*tls.CertificateVerificationError)):
		return withHint(err, "pass --ca-cert FILE with the CA certificate that signed "+registryHost+"'s certificate")
	case errors.Is(err, registry.ErrUnauthorized):
		return withHint(err, "imgx reads credentials from the Docker config ($DOCKER_CONFIG/config.json or ~/.docker/config.json, credential helpers included): run 'docker login "+registryHost+"' or add an \"auths\" entry for "+registryHost)
	case errors.Is(err, registry.ErrDenied):
		return withHint(err, "the credentials were accepted but may not do this; check the account's permissions on "+registryHost)
	case errors.Is(err, registry.ErrPlainHTTP):
		return withHint(err, "pass --insecure if "+registryHost+" is meant to be reached over plain HTTP")
	case errors.Is(err, registry.ErrInsufficientSpace):
		return withHint(err, "free space ('imgx prune' removes unused blobs) or use --store on a larger disk; nothing was downloaded")
	case errors.Is(err, registry.ErrNotFound):
		return withHint(err, "check the repository and tag; 'skopeo list-tags docker://"+registryHost+"/REPO' lists the tags")
	}
	return err
}

// registryHost is the registry part of a reference, for messages.
func registryHost(s string) string { return registry.Host(s) }
