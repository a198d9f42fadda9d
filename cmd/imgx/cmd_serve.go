package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"

	"github.com/spf13/pflag"

	"github.com/imgx/imgx/serve"
)

func init() {
	var o struct {
		addr, cert, key, htpasswd, logFormat string
	}
	register(&Command{
		Name:  "serve",
		Usage: "--addr HOST:PORT [flags]",
		Short: "Serve the store read-only as an OCI registry",
		Long: `Serve makes the store a read-only OCI registry (distribution API v2) that docker,
podman, skopeo, crane and containerd pull from: manifests by tag and digest, blobs with
Range requests, tag lists, the catalog and the referrers API. Every write is refused
(405 UNSUPPORTED); nothing a client sends changes the store.

A tag is served under its name without the registry host: the image 'imgx images' shows
as registry.example/team/app:1.0 is HOST:PORT/team/app:1.0, and app:1.0 (Docker Hub) is
HOST:PORT/app:1.0. The full name (HOST:PORT/registry.example/team/app:1.0) works too,
and is the only form served when two stored names would clash.

--addr is required: imgx never listens anywhere you did not name. Without --tls-cert
and --tls-key it speaks plain HTTP (clients need --tls-verify=false or an
insecure-registries entry); with --htpasswd every request needs basic authentication
against bcrypt hashes (htpasswd -B). Loads, ingests and prunes may run meanwhile:
a tag appears when its commit lands, and a blob being sent is not cut short.

One access log line per request goes to stderr (--log-format json for JSON lines).
SIGINT or SIGTERM stops accepting connections, lets responses in flight finish (up
to 10 s), and exits 0.`,
		Example: `  imgx serve --addr 127.0.0.1:5000
  skopeo copy --src-tls-verify=false docker://127.0.0.1:5000/app:1.0 oci:app
  imgx serve --addr 0.0.0.0:5443 --tls-cert cert.pem --tls-key key.pem --htpasswd users`,
		Flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&o.addr, "addr", "", "listen on `HOST:PORT` (required; port 0 picks a free one)")
			fs.StringVar(&o.cert, "tls-cert", "", "serve HTTPS with this certificate `FILE` (PEM, with --tls-key)")
			fs.StringVar(&o.key, "tls-key", "", "private key `FILE` for --tls-cert (PEM)")
			fs.StringVar(&o.htpasswd, "htpasswd", "", "require basic auth against this htpasswd `FILE` (bcrypt hashes only)")
			fs.StringVar(&o.logFormat, "log-format", "text", "access log format on stderr: text or json")
		},
		Args: exactArgs(0, "no arguments"),
		Run: func(ctx context.Context, e *Env, args []string) error {
			if o.addr == "" {
				return usagef("--addr HOST:PORT is required (for example --addr 127.0.0.1:5000)")
			}
			if (o.cert == "") != (o.key == "") {
				return usagef("--tls-cert and --tls-key go together")
			}
			var h slog.Handler
			switch o.logFormat {
			case "text":
				h = slog.NewTextHandler(e.Stderr, nil)
			case "json":
				h = slog.NewJSONHandler(e.Stderr, nil)
			default:
				return usagef("--log-format %q: want text or json", o.logFormat)
			}
			opts := serve.Options{TLSCertFile: o.cert, TLSKeyFile: o.key, AccessLog: slog.New(h)}
			if o.htpasswd != "" {
				f, err := os.Open(o.htpasswd)
				if err != nil {
					return err
				}
				opts.Auth, err = serve.ParseHtpasswd(f)
				f.Close()
				if err != nil {
					return fmt.Errorf("%s: %w", o.htpasswd, err)
				}
			}
			st, err := e.Store()
			if err != nil {
				return err
			}
			srv, err := serve.New(st, opts)
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", o.addr)
			if err != nil {
				return fmt.Errorf("listen on %s: %w", o.addr, err)
			}
			scheme := "http"
			if o.cert != "" {
				scheme = "https"
			}
			fmt.Fprintf(e.Stdout, "serving %s read-only at %s://%s\n", st.Root(), scheme, ln.Addr())
			return srv.Serve(ctx, ln)
		},
	})
}
