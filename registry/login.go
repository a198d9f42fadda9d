package registry

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// dockerHubKey is the key docker (and go-containerregistry's keychain) use for Docker Hub.
const dockerHubKey = "https://index.docker.io/v1/"

// LoginResult says where Login stored the credentials.
type LoginResult struct {
	Where     string // the config file, or docker-credential-NAME
	Plaintext bool   // base64 in config.json rather than in a credential helper
}

// LoginOptions says where Login and Logout keep credentials.
type LoginOptions struct {
	Options
	// ConfigDir is the Docker config directory; empty means $DOCKER_CONFIG or ~/.docker.
	ConfigDir string
}

// Login checks user and password against the registry (GET /v2/ with them, through the
// registry's token service if it has one) and, if they work, stores them in the Docker
// config the way docker login does: through the configured credential helper, or in
// config.json (mode 0600).
func Login(ctx context.Context, host, user, password string, o LoginOptions) (*LoginResult, error) {
	reg, err := o.registry(host)
	if err != nil {
		return nil, err
	}
	rt, err := o.transport()
	if err != nil {
		return nil, err
	}
	defer o.closeIdle(rt)
	auth := &authn.Basic{Username: user, Password: password}
	tr, err := transport.NewWithContext(ctx, reg, auth, rt, []string{reg.Scope(transport.PullScope)})
	if err != nil {
		return nil, fmt.Errorf("login %s: %w", host, classify(err))
	}
	u := url.URL{Scheme: reg.Scheme(), Host: reg.RegistryStr(), Path: "/v2/"}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("login %s: %w", host, classify(err))
	}
	defer resp.Body.Close()
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		return nil, fmt.Errorf("login %s: %w", host, classify(err))
	}

	cf, err := config.Load(o.ConfigDir)
	if err != nil {
		return nil, fmt.Errorf("docker config: %w", err)
	}
	key := configKey(reg)
	ac := types.AuthConfig{ServerAddress: key, Username: user, Password: password}
	helper := cf.CredentialHelpers[key]
	if helper == "" {
		helper = cf.CredentialsStore
	}
	if helper != "" {
		if err := cf.GetCredentialsStore(key).Store(ac); err != nil {
			return nil, fmt.Errorf("store credentials for %s in docker-credential-%s: %w", key, helper, err)
		}
		return &LoginResult{Where: "docker-credential-" + helper}, nil
	}
	// What docker's file store does, minus the warning it prints on os.Stderr itself.
	if cf.AuthConfigs == nil {
		cf.AuthConfigs = map[string]types.AuthConfig{}
	}
	cf.AuthConfigs[key] = ac
	if err := cf.Save(); err != nil {
		return nil, fmt.Errorf("store credentials for %s: %w", key, err)
	}
	return &LoginResult{Where: cf.Filename, Plaintext: true}, nil
}

// Logout removes the credentials stored for host. It reports whether there were any.
func Logout(host string, o LoginOptions) (bool, error) {
	reg, err := o.registry(host)
	if err != nil {
		return false, err
	}
	cf, err := config.Load(o.ConfigDir)
	if err != nil {
		return false, fmt.Errorf("docker config: %w", err)
	}
	key := configKey(reg)
	store := cf.GetCredentialsStore(key)
	if a, err := store.Get(key); err != nil || (a.Username == "" && a.Password == "" && a.Auth == "" && a.IdentityToken == "") {
		return false, nil
	}
	if err := store.Erase(key); err != nil {
		return false, fmt.Errorf("remove credentials for %s: %w", key, err)
	}
	return true, nil
}

func (o *Options) registry(host string) (name.Registry, error) {
	var opts []name.Option
	if o.Insecure {
		opts = append(opts, name.Insecure)
	}
	reg, err := name.NewRegistry(host, opts...)
	if err != nil {
		return reg, fmt.Errorf("registry %q: %w", host, err)
	}
	return reg, nil
}

// configKey is the config.json key docker uses for a registry.
func configKey(reg name.Registry) string {
	if reg.RegistryStr() == name.DefaultRegistry {
		return dockerHubKey
	}
	return reg.RegistryStr()
}
