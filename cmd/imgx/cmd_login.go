package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"

	"github.com/imgx/imgx/registry"
)

func init() {
	var (
		user          string
		passwordStdin bool
		reg           registryFlags
	)
	register(&Command{
		Name:  "login",
		Usage: "[flags] REGISTRY",
		Short: "Check and store credentials for a registry",
		Long: `Login checks a user name and password against REGISTRY and stores them in the Docker
config, where pull and push (and docker, podman, crane, skopeo) find them: through the
credential helper the config names (credsStore, credHelpers), or else base64-encoded in
$DOCKER_CONFIG/config.json or ~/.docker/config.json, mode 0600.

The password is read from standard input with --password-stdin, or prompted on the
terminal; never from the command line, where other users can read it.`,
		Example: `  imgx login --username ci --password-stdin registry.site.lan:5000 < /run/secrets/registry
  imgx login --ca-cert /etc/imgx/site-ca.pem registry.site.lan:5000`,
		Flags: func(fs *pflag.FlagSet) {
			fs.StringVarP(&user, "username", "u", "", "user name (prompted when not given)")
			fs.BoolVar(&passwordStdin, "password-stdin", false, "read the password from standard input")
			reg.add(fs)
		},
		Args: exactArgs(1, "one REGISTRY"),
		Run: func(ctx context.Context, e *Env, args []string) error {
			if user == "" {
				u, err := ttyPrompt("Username: ", true)
				if err != nil || len(u) == 0 {
					return usagef("no user name: pass --username")
				}
				user = string(u)
			}
			var pw []byte
			var err error
			if passwordStdin {
				pw, err = io.ReadAll(io.LimitReader(e.Stdin, 64<<10))
				if err != nil {
					return fmt.Errorf("read password: %w", err)
				}
				pw = []byte(strings.TrimRight(string(pw), "\r\n"))
			} else if pw, err = ttyPrompt("Password: ", false); err != nil {
				return usagef("no password: use --password-stdin or run on a terminal")
			}
			if len(pw) == 0 {
				return usagef("empty password")
			}
			ro, err := reg.options(e, args[0])
			if err != nil {
				return err
			}
			res, err := registry.Login(ctx, args[0], user, string(pw), registry.LoginOptions{Options: ro})
			if err != nil {
				if errors.Is(err, registry.ErrUnauthorized) {
					return withHint(err, "check the user name and password; nothing was stored")
				}
				return registryHint(err, args[0])
			}
			if res.Plaintext {
				e.Warnf("credentials stored base64-encoded (not encrypted) in %s; a credential helper (credsStore) keeps them encrypted", res.Where)
			}
			fmt.Fprintf(e.Stdout, "Login succeeded: %s (credentials in %s)\n", args[0], res.Where)
			return nil
		},
	})

	register(&Command{
		Name:    "logout",
		Usage:   "REGISTRY",
		Short:   "Remove stored credentials for a registry",
		Long:    `Logout removes REGISTRY's credentials from the Docker config or its credential helper.`,
		Example: `  imgx logout registry.site.lan:5000`,
		Args:    exactArgs(1, "one REGISTRY"),
		Run: func(ctx context.Context, e *Env, args []string) error {
			had, err := registry.Logout(args[0], registry.LoginOptions{})
			if err != nil {
				return err
			}
			if !had {
				fmt.Fprintf(e.Stdout, "Not logged in to %s\n", args[0])
				return nil
			}
			fmt.Fprintf(e.Stdout, "Removed credentials for %s\n", args[0])
			return nil
		},
	})
}
