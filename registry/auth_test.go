package registry_test

import (
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"

	"github.com/imgx/imgx/registry"
)

// bearerAuth puts a token service in front of a registry, as Docker Hub, Harbor and
// GitLab do: /v2/ answers 401 with a Bearer challenge, /token trades user:pass for a
// token that must then come with every request, and records the scopes asked for.
func bearerAuth(user, pass string, scopes *[]string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/token" {
				if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				*scopes = append(*scopes, r.URL.Query()["scope"]...)
				json.NewEncoder(w).Encode(map[string]string{"token": "tok-" + user})
				return
			}
			if r.Header.Get("Authorization") != "Bearer tok-"+user {
				w.Header().Set("WWW-Authenticate", `Bearer realm="http://`+r.Host+`/token",service="test"`)
				w.WriteHeader(http.StatusUnauthorized)
				w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"token required"}]}`))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func TestBearerTokenAuth(t *testing.T) {
	var scopes []string
	host := newRegistry(t, bearerAuth("carol", "pw", &scopes))
	good := registry.Options{Insecure: true, Keychain: staticKeychain{"carol", "pw"}}

	src := newRegistry(t, nil)
	img := seedImage(t, src+"/app:1", 2)
	s := newStore(t)
	if _, err := registry.Pull(ctx, s, src+"/app:1", registry.PullOptions{Options: opts()}); err != nil {
		t.Fatal(err)
	}
	p, _ := registry.NewPusher(s, good)
	if _, err := p.Push(ctx, resolve(t, s, src+"/app:1"), host+"/team/app:1"); err != nil {
		t.Fatal(err)
	}
	res, err := registry.Pull(ctx, newStore(t), host+"/team/app:1", registry.PullOptions{Options: good})
	if err != nil {
		t.Fatal(err)
	}
	if res.Desc.Digest.String() != digestOf(t, img) || res.Fetched != 3 {
		t.Errorf("pull through a token service: %+v", res)
	}
	var push, pull bool
	for _, sc := range scopes {
		push = push || sc == "repository:team/app:push,pull"
		pull = pull || sc == "repository:team/app:pull"
	}
	if !push || !pull {
		t.Errorf("scopes asked for: %q", scopes)
	}
	if _, err := registry.Pull(ctx, newStore(t), host+"/team/app:1", registry.PullOptions{Options: registry.Options{Insecure: true, Keychain: staticKeychain{"carol", "bad"}}}); err == nil || !strings.Contains(err.Error(), "401") && !strings.Contains(err.Error(), "UNAUTHORIZED") {
		t.Errorf("wrong password through the token service: %v", err)
	}
}

// TestPullFollowsBlobRedirects: registries backed by object storage answer blob GETs
// with a redirect to another host. The download follows it (without the registry's
// credentials) and still resumes with a Range request there.
func TestPullFollowsBlobRedirects(t *testing.T) {
	// One in-memory registry behind two servers: origin (no auth, what the storage host
	// reads from) and front (authenticated, redirecting blob GETs to storage).
	h := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	originSrv := httptest.NewServer(h)
	defer originSrv.Close()
	origin := strings.TrimPrefix(originSrv.URL, "http://")
	img := seedImage(t, origin+"/app:1", 2)
	ls, _ := img.Layers()
	layer := digestOf(t, ls[0])
	var cut atomic.Bool
	var authLeaked atomic.Bool
	storage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			authLeaked.Store(true)
		}
		u := "http://" + origin + r.URL.Path
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		if strings.HasSuffix(r.URL.Path, layer) && r.Header.Get("Range") == "" && cut.CompareAndSwap(false, true) {
			buf := make([]byte, 10000)
			n, _ := resp.Body.Read(buf)
			w.Write(buf[:n])
			panic(http.ErrAbortHandler)
		}
		var b [32 << 10]byte
		for {
			n, err := resp.Body.Read(b[:])
			w.Write(b[:n])
			if err != nil {
				return
			}
		}
	}))
	defer storage.Close()
	frontSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "dave" || p != "pw" {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/sha256:") {
			http.Redirect(w, r, storage.URL+r.URL.Path, http.StatusTemporaryRedirect)
			return
		}
		h.ServeHTTP(w, r)
	}))
	defer frontSrv.Close()
	front := strings.TrimPrefix(frontSrv.URL, "http://")
	o := registry.Options{Insecure: true, Keychain: staticKeychain{"dave", "pw"}, Retries: 2}
	res, err := registry.Pull(ctx, newStore(t), front+"/app:1", registry.PullOptions{Options: o})
	if err != nil {
		t.Fatal(err)
	}
	if res.Desc.Digest.String() != digestOf(t, img) || !cut.Load() {
		t.Errorf("pull: %+v (cut: %v)", res, cut.Load())
	}
	if authLeaked.Load() {
		t.Error("the registry's credentials were sent to the storage host")
	}
}
