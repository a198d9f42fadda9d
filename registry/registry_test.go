package registry_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/internal/testutil"
	"github.com/imgx/imgx/oci"
	"github.com/imgx/imgx/registry"
	"github.com/imgx/imgx/store"
)

var ctx = context.Background()

// newRegistry serves go-containerregistry's in-memory registry over plain HTTP on
// loopback, optionally behind wrap (faults, authentication).
func newRegistry(t *testing.T, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	h := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// anonymous keeps the tests away from the machine's Docker config.
var anonymous = authn.NewMultiKeychain()

func opts() registry.Options {
	return registry.Options{Insecure: true, Keychain: anonymous}
}

func newStore(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func seedImage(t *testing.T, dst string, layers int) v1.Image {
	t.Helper()
	img, err := random.Image(64<<10, int64(layers))
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{OS: "linux", Architecture: "amd64", RootFS: v1.RootFS{Type: "layers", DiffIDs: diffIDs(t, img)}})
	if err != nil {
		t.Fatal(err)
	}
	write(t, dst, img)
	return img
}

func diffIDs(t *testing.T, img v1.Image) []v1.Hash {
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	return cf.RootFS.DiffIDs
}

var platforms = []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64", Variant: "v8"}, {OS: "linux", Architecture: "s390x"}}

// seedIndex pushes a three-platform OCI index whose images share one base layer.
func seedIndex(t *testing.T, dst string) v1.ImageIndex {
	t.Helper()
	base, err := random.Layer(32<<10, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	ix := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range platforms {
		top, err := random.Layer(16<<10, types.OCILayer)
		if err != nil {
			t.Fatal(err)
		}
		img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), base, top)
		if err != nil {
			t.Fatal(err)
		}
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
		cf, _ := img.ConfigFile()
		cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			t.Fatal(err)
		}
		p := p
		ix = mutate.AppendManifests(ix, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	r, err := name.ParseReference(dst, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(r, ix); err != nil {
		t.Fatal(err)
	}
	return ix
}

func write(t *testing.T, dst string, img v1.Image) {
	t.Helper()
	r, err := name.ParseReference(dst, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
}

func remoteDigest(t *testing.T, ref string) string {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	d, err := remote.Head(r)
	if err != nil {
		t.Fatal(err)
	}
	return d.Digest.String()
}

func digestOf(t *testing.T, x interface{ Digest() (v1.Hash, error) }) string {
	h, err := x.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

func resolve(t *testing.T, s *store.Store, in string) store.Resolved {
	t.Helper()
	r, err := s.Resolve(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestPullPushRoundTrip(t *testing.T) {
	host := newRegistry(t, nil)
	img := seedImage(t, host+"/src/app:1", 3)
	want := digestOf(t, img)

	a := newStore(t)
	res, err := registry.Pull(ctx, a, host+"/src/app:1", registry.PullOptions{Options: opts()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Desc.Digest.String() != want || res.Blobs != 4 || res.Fetched != 4 || res.Present != 0 {
		t.Fatalf("first pull: %+v, want digest %s, 4 blobs fetched", res, want)
	}
	if res.Ref != host+"/src/app:1" {
		t.Errorf("ref = %q", res.Ref)
	}
	again, err := registry.Pull(ctx, a, host+"/src/app:1", registry.PullOptions{Options: opts()})
	if err != nil {
		t.Fatal(err)
	}
	if again.Fetched != 0 || again.Present != 4 || again.FetchedBytes != 0 {
		t.Errorf("second pull fetched again: %+v", again)
	}
	if rep, err := a.Check(ctx); err != nil || !rep.OK() {
		t.Fatalf("check: %v %+v", err, rep)
	}

	p, err := registry.NewPusher(a, opts())
	if err != nil {
		t.Fatal(err)
	}
	src := resolve(t, a, host+"/src/app:1")
	host = newRegistry(t, nil) // the in-memory registry shares blobs across repositories
	pr, err := p.Push(ctx, src, host+"/dst/app:1")
	if err != nil {
		t.Fatal(err)
	}
	if pr.Digest.String() != want || pr.Uploaded != 4 || pr.Existing != 0 || pr.UploadedBytes != res.FetchedBytes {
		t.Fatalf("push: %+v", pr)
	}
	if got := remoteDigest(t, host+"/dst/app:1"); got != want {
		t.Fatalf("registry has %s, want %s", got, want)
	}
	pr, err = p.Push(ctx, src, host+"/dst/app:1")
	if err != nil {
		t.Fatal(err)
	}
	if pr.Uploaded != 0 || pr.Existing != 4 {
		t.Errorf("second push uploaded again: %+v", pr)
	}
	// A fresh pusher learns the same from the registry (HEAD before upload).
	p2, _ := registry.NewPusher(a, opts())
	if pr, err = p2.Push(ctx, src, host+"/dst/app:2"); err != nil || pr.Uploaded != 0 || pr.Existing != 4 {
		t.Errorf("push to a new tag: %+v, %v", pr, err)
	}

	// The mount hints a push records leave the store consistent.
	if rep, err := a.Check(ctx); err != nil || !rep.OK() {
		t.Fatalf("check after push: %v %+v", err, rep)
	}
	if _, err := os.Stat(filepath.Join(a.Root(), ".imgx", "records", "registry-blobs")); err != nil {
		t.Errorf("no mount hints recorded: %v", err)
	}

	b := newStore(t)
	if _, err := registry.Pull(ctx, b, host+"/dst/app:1", registry.PullOptions{Options: opts()}); err != nil {
		t.Fatal(err)
	}
	if got := resolve(t, b, host+"/dst/app:1").Desc.Digest.String(); got != want {
		t.Errorf("second store has %s, want %s", got, want)
	}
}

func TestPullIndexPlatforms(t *testing.T) {
	host := newRegistry(t, nil)
	ix := seedIndex(t, host+"/multi:1")
	im, err := ix.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	child := func(i int) string { return im.Manifests[i].Digest.String() }
	arm := ocispec.Platform{OS: "linux", Architecture: "arm64"}
	s390 := ocispec.Platform{OS: "linux", Architecture: "s390x"}
	tests := []struct {
		name      string
		platforms []ocispec.Platform
		digest    string // "" for a new (trimmed) index
		blobs     int
		children  int
		err       string
	}{
		{name: "whole index", digest: digestOf(t, ix), blobs: 1 + 3*2, children: 3},
		{name: "one platform", platforms: []ocispec.Platform{arm}, digest: child(1), blobs: 3},
		{name: "two platforms", platforms: []ocispec.Platform{arm, s390}, blobs: 1 + 2*2, children: 2},
		{name: "missing platform", platforms: []ocispec.Platform{{OS: "windows", Architecture: "amd64"}}, err: "no image for platform windows/amd64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			before := testutil.VisibleTreeHash(t, s.Root())
			res, err := registry.Pull(ctx, s, host+"/multi:1", registry.PullOptions{Options: opts(), Platforms: tc.platforms})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				if after := testutil.VisibleTreeHash(t, s.Root()); after != before {
					t.Errorf("store changed by a failed pull:\n%s\n---\n%s", before, after)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.digest != "" && res.Desc.Digest.String() != tc.digest {
				t.Errorf("stored %s, want %s", res.Desc.Digest, tc.digest)
			}
			if res.Trimmed != (tc.digest == "") {
				t.Errorf("trimmed = %v", res.Trimmed)
			}
			if res.Blobs != tc.blobs {
				t.Errorf("blobs = %d, want %d", res.Blobs, tc.blobs)
			}
			got := resolve(t, s, host+"/multi:1")
			if tc.children > 0 {
				data, err := s.ReadBlob(ctx, got.Desc)
				if err != nil {
					t.Fatal(err)
				}
				sub, err := oci.ParseIndex(data)
				if err != nil || len(sub.Manifests) != tc.children {
					t.Fatalf("stored index has %d manifests (%v), want %d", len(sub.Manifests), err, tc.children)
				}
			}
			if rep, err := s.Check(ctx); err != nil || !rep.OK() {
				t.Fatalf("check: %v %+v", err, rep)
			}
			// Whatever was stored pushes back with its digest.
			p, err := registry.NewPusher(s, opts())
			if err != nil {
				t.Fatal(err)
			}
			pr, err := p.Push(ctx, got, host+"/copy/"+strings.ReplaceAll(tc.name, " ", "-")+":1")
			if err != nil {
				t.Fatal(err)
			}
			if pr.Digest != res.Desc.Digest || pr.Blobs != tc.blobs {
				t.Errorf("push: %+v", pr)
			}
			if d := remoteDigest(t, pr.Destination); d != res.Desc.Digest.String() {
				t.Errorf("registry serves %s, want %s", d, res.Desc.Digest)
			}
		})
	}
}

func TestPullPlatformOfSingleImage(t *testing.T) {
	host := newRegistry(t, nil)
	seedImage(t, host+"/one:1", 1)
	s := newStore(t)
	_, err := registry.Pull(ctx, s, host+"/one:1", registry.PullOptions{Options: opts(), Platforms: []ocispec.Platform{{OS: "linux", Architecture: "arm64"}}})
	if err == nil || !strings.Contains(err.Error(), "image is for linux/amd64 only, not linux/arm64") {
		t.Fatalf("err = %v", err)
	}
	res, err := registry.Pull(ctx, s, host+"/one:1", registry.PullOptions{Options: opts(), Platforms: []ocispec.Platform{{OS: "linux", Architecture: "amd64"}}})
	if err != nil || len(res.Platforms) != 1 || res.Platforms[0] != "linux/amd64" {
		t.Fatalf("pull: %+v, %v", res, err)
	}
}

// corrupt serves blob (or manifest) responses whose path contains target with one byte
// changed, or cut short.
func corrupt(target string, truncate bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, target) {
				next.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			body := rec.Body.Bytes()
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			if truncate {
				w.WriteHeader(rec.Code)
				w.Write(body[:len(body)/2])
				panic(http.ErrAbortHandler) // drop the connection: a truncated body
			}
			body[len(body)/2] ^= 0x20
			w.WriteHeader(rec.Code)
			w.Write(body)
		})
	}
}

func TestPullRejectsBadBytes(t *testing.T) {
	host := newRegistry(t, nil)
	img := seedImage(t, host+"/app:1", 2)
	ls, _ := img.Layers()
	layer := digestOf(t, ls[1])
	cfg, _ := img.ConfigName()
	ix := seedIndex(t, host+"/multi:1")
	im, _ := ix.IndexManifest()

	tests := []struct {
		name, ref, target string
		truncate          bool
		want              error
		msg               string
	}{
		{"flipped layer byte", "/app:1", layer, false, store.ErrDigestMismatch, "blob " + layer},
		{"flipped config byte", "/app:1", cfg.String(), false, store.ErrDigestMismatch, "blob " + cfg.String()},
		{"truncated layer", "/app:1", layer, true, nil, "blob " + layer},
		{"flipped child manifest", "/multi:1", im.Manifests[1].Digest.String(), false, nil, "manifest " + im.Manifests[1].Digest.String()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bad := newRegistry(t, corrupt(tc.target, tc.truncate))
			// Same content in the faulty registry.
			src, _ := name.ParseReference(host+tc.ref, name.Insecure)
			dst, _ := name.ParseReference(bad+tc.ref, name.Insecure)
			desc, err := remote.Get(src)
			if err != nil {
				t.Fatal(err)
			}
			if err := copyAll(desc, dst); err != nil {
				t.Fatal(err)
			}
			s := newStore(t)
			seedImage(t, bad+"/other:1", 1)
			if _, err := registry.Pull(ctx, s, bad+"/other:1", registry.PullOptions{Options: opts()}); err != nil {
				t.Fatal(err)
			}
			before := testutil.VisibleTreeHash(t, s.Root())
			_, err = registry.Pull(ctx, s, bad+tc.ref, registry.PullOptions{Options: opts()})
			if err == nil {
				t.Fatal("pull of corrupted bytes succeeded")
			}
			t.Logf("error: %v", err)
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %v, want it to name %q", err, tc.msg)
			}
			if after := testutil.VisibleTreeHash(t, s.Root()); after != before {
				t.Errorf("store changed by a rejected pull:\n%s\n---\n%s", before, after)
			}
		})
	}
}

// copyAll copies an image or index with all its blobs (remote.Put only sends manifests).
func copyAll(desc *remote.Descriptor, dst name.Reference) error {
	if desc.MediaType.IsIndex() {
		ix, err := desc.ImageIndex()
		if err != nil {
			return err
		}
		return remote.WriteIndex(dst, ix)
	}
	img, err := desc.Image()
	if err != nil {
		return err
	}
	return remote.Write(dst, img)
}

func TestPullResumesBrokenDownload(t *testing.T) {
	host := newRegistry(t, nil)
	img := seedImage(t, host+"/app:1", 2)
	ls, _ := img.Layers()
	layer := digestOf(t, ls[0])
	var cut atomic.Bool
	var ranges []string
	var mu sync.Mutex
	faulty := newRegistry(t, func(next http.Handler) http.Handler {
		inner := corrupt(layer, true)(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if rg := r.Header.Get("Range"); rg != "" {
				mu.Lock()
				ranges = append(ranges, rg)
				mu.Unlock()
			}
			if strings.HasSuffix(r.URL.Path, layer) && r.Method == http.MethodGet && cut.CompareAndSwap(false, true) {
				inner.ServeHTTP(w, r)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	write(t, faulty+"/app:1", img)
	var notes []string
	o := opts()
	o.Retries = 2
	o.Notify = func(op string, err error, attempt int, _ time.Duration) {
		notes = append(notes, op)
	}
	s := newStore(t)
	res, err := registry.Pull(ctx, s, faulty+"/app:1", registry.PullOptions{Options: o})
	if err != nil {
		t.Fatal(err)
	}
	if res.Desc.Digest.String() != digestOf(t, img) {
		t.Fatalf("digest %s", res.Desc.Digest)
	}
	size, _ := ls[0].Size()
	if len(ranges) != 1 || ranges[0] == "bytes=0-" || !strings.HasPrefix(ranges[0], "bytes=") {
		t.Errorf("resume requests: %q (layer of %d bytes)", ranges, size)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], layer) {
		t.Errorf("retry notices: %q", notes)
	}
	// Without retries the same fault is an error; nothing becomes visible in the store.
	cut.Store(false)
	s2 := newStore(t)
	before := testutil.VisibleTreeHash(t, s2.Root())
	if _, err := registry.Pull(ctx, s2, faulty+"/app:1", registry.PullOptions{Options: opts()}); err == nil {
		t.Fatal("pull through a cut connection succeeded without retries")
	}
	if after := testutil.VisibleTreeHash(t, s2.Root()); after != before {
		t.Errorf("store changed:\n%s\n---\n%s", before, after)
	}
}

// basicAuth requires user:pass on every request, as a registry with htpasswd does.
func basicAuth(user, pass string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

type staticKeychain struct{ user, pass string }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return &authn.Basic{Username: k.user, Password: k.pass}, nil
}

func TestErrors(t *testing.T) {
	host := newRegistry(t, nil)
	seedImage(t, host+"/app:1", 1)
	locked := newRegistry(t, basicAuth("alice", "s3cret"))
	plain := opts()
	plain.Insecure = false

	tests := []struct {
		name string
		ref  string
		o    registry.Options
		want error
		msg  string
	}{
		{"unknown tag", host + "/app:nope", opts(), registry.ErrNotFound, "MANIFEST_UNKNOWN"},
		{"unknown repository", host + "/nothing:1", opts(), registry.ErrNotFound, ""},
		{"no credentials", locked + "/app:1", opts(), registry.ErrUnauthorized, "UNAUTHORIZED"},
		{"wrong password", locked + "/app:1", registry.Options{Insecure: true, Keychain: staticKeychain{"alice", "wrong"}}, registry.ErrUnauthorized, ""},
		{"plain HTTP refused", host + "/app:1", plain, registry.ErrPlainHTTP, "--insecure"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := registry.Pull(ctx, newStore(t), tc.ref, registry.PullOptions{Options: tc.o})
			t.Logf("error: %v", err)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want %v mentioning %q", err, tc.want, tc.msg)
			}
		})
	}

	// The right credentials work for pull and push.
	good := registry.Options{Insecure: true, Keychain: staticKeychain{"alice", "s3cret"}}
	s := newStore(t)
	if _, err := registry.Pull(ctx, s, host+"/app:1", registry.PullOptions{Options: opts()}); err != nil {
		t.Fatal(err)
	}
	src := resolve(t, s, host+"/app:1")
	p, _ := registry.NewPusher(s, opts())
	if _, err := p.Push(ctx, src, locked+"/app:1"); !errors.Is(err, registry.ErrUnauthorized) {
		t.Fatalf("push without credentials: %v", err)
	}
	p, _ = registry.NewPusher(s, good)
	if _, err := p.Push(ctx, src, locked+"/app:1"); err != nil {
		t.Fatal(err)
	}
	if _, err := registry.Pull(ctx, newStore(t), locked+"/app:1", registry.PullOptions{Options: good}); err != nil {
		t.Fatal(err)
	}
}

func TestDockerConfigCredentials(t *testing.T) {
	if os.Getenv("IMGX_KEYCHAIN_CHILD") == "" {
		// docker/cli reads DOCKER_CONFIG once per process: run in a child.
		locked := newRegistry(t, basicAuth("bob", "pa55"))
		host := newRegistry(t, nil)
		seedImage(t, host+"/app:1", 1)
		src, _ := name.ParseReference(host+"/app:1", name.Insecure)
		desc, _ := remote.Get(src)
		dst, _ := name.ParseReference(locked+"/app:1", name.Insecure)
		img, _ := desc.Image()
		if err := remote.Write(dst, img, remote.WithAuth(&authn.Basic{Username: "bob", Password: "pa55"})); err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		cfg := `{"auths":{"` + locked + `":{"auth":"` + base64.StdEncoding.EncodeToString([]byte("bob:pa55")) + `"}}}`
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		exe, _ := os.Executable()
		cmd := execCommand(exe, "-test.run=^TestDockerConfigCredentials$", "-test.v")
		cmd.Env = append(os.Environ(), "IMGX_KEYCHAIN_CHILD="+locked, "DOCKER_CONFIG="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "pulled with Docker config credentials") {
			t.Fatalf("child: %v\n%s", err, out)
		}
		return
	}
	locked := os.Getenv("IMGX_KEYCHAIN_CHILD")
	res, err := registry.Pull(ctx, newStore(t), locked+"/app:1", registry.PullOptions{Options: registry.Options{Insecure: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pulled with Docker config credentials: %s", res.Desc.Digest)
}

// TestPushRetriesTransientFailures answers the first blob upload and the first manifest
// upload with 503: the push retries them and completes with the digest unchanged; with
// no retries it fails.
func TestPushRetriesTransientFailures(t *testing.T) {
	host := newRegistry(t, nil)
	seedImage(t, host+"/app:1", 2)
	s := newStore(t)
	if _, err := registry.Pull(ctx, s, host+"/app:1", registry.PullOptions{Options: opts()}); err != nil {
		t.Fatal(err)
	}
	src := resolve(t, s, host+"/app:1")
	flaky := func() (string, *atomic.Int32) {
		var failed atomic.Int32
		h := newRegistry(t, func(next http.Handler) http.Handler {
			var blob, manifest atomic.Bool
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				first := r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/blobs/uploads/") && blob.CompareAndSwap(false, true) ||
					r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") && manifest.CompareAndSwap(false, true)
				if first {
					failed.Add(1)
					w.WriteHeader(http.StatusServiceUnavailable)
					return
				}
				next.ServeHTTP(w, r)
			})
		})
		return h, &failed
	}
	dst, failed := flaky()
	o := opts()
	o.Retries = 3
	p, _ := registry.NewPusher(s, o)
	res, err := p.Push(ctx, src, dst+"/app:1")
	if err != nil {
		t.Fatal(err)
	}
	if failed.Load() != 2 || res.Digest != src.Desc.Digest || remoteDigest(t, dst+"/app:1") != src.Desc.Digest.String() {
		t.Errorf("after %d injected failures: %+v", failed.Load(), res)
	}
	dst, _ = flaky()
	p, _ = registry.NewPusher(s, opts())
	if _, err := p.Push(ctx, src, dst+"/app:1"); err == nil {
		t.Error("push through a 503 succeeded without retries")
	}
}

func TestLoginLogout(t *testing.T) {
	locked := newRegistry(t, basicAuth("alice", "s3cret"))
	dir := t.TempDir()
	lo := registry.LoginOptions{Options: opts(), ConfigDir: dir}
	cfg := filepath.Join(dir, "config.json")

	if _, err := registry.Login(ctx, locked, "alice", "wrong", lo); !errors.Is(err, registry.ErrUnauthorized) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := os.Stat(cfg); err == nil {
		t.Fatal("a failed login wrote the config")
	}
	res, err := registry.Login(ctx, locked, "alice", "s3cret", lo)
	if err != nil {
		t.Fatal(err)
	}
	if res.Where != cfg || !res.Plaintext {
		t.Errorf("stored in %+v, want %q", res, cfg)
	}
	fi, err := os.Stat(cfg)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("config: %v, mode %v", err, fi.Mode())
	}
	var c struct {
		Auths map[string]struct{ Auth string } `json:"auths"`
	}
	b, _ := os.ReadFile(cfg)
	if err := json.Unmarshal(b, &c); err != nil || c.Auths[locked].Auth != base64.StdEncoding.EncodeToString([]byte("alice:s3cret")) {
		t.Fatalf("config.json = %s (%v)", b, err)
	}
	if had, err := registry.Logout(locked, lo); err != nil || !had {
		t.Fatalf("logout: %v %v", had, err)
	}
	b, _ = os.ReadFile(cfg)
	if strings.Contains(string(b), "alice") || strings.Contains(string(b), base64.StdEncoding.EncodeToString([]byte("alice:s3cret"))) {
		t.Errorf("credentials left after logout: %s", b)
	}
	if had, err := registry.Logout(locked, lo); err != nil || had {
		t.Errorf("second logout: %v %v", had, err)
	}
}

// TestRepushUnchangedTag: pushing a tag the registry already serves with the same digest
// sends no blob traffic, only manifest HEADs (the claim docs/nightly-sync.md makes).
func TestRepushUnchangedTag(t *testing.T) {
	src := newRegistry(t, nil)
	seedImage(t, src+"/app:1", 3)
	s := newStore(t)
	if _, err := registry.Pull(ctx, s, src+"/app:1", registry.PullOptions{Options: opts()}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var reqs []string
	dst := newRegistry(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			reqs = append(reqs, r.Method+" "+r.URL.Path)
			mu.Unlock()
			next.ServeHTTP(w, r)
		})
	})
	img := resolve(t, s, src+"/app:1")
	p, _ := registry.NewPusher(s, opts())
	if _, err := p.Push(ctx, img, dst+"/app:1"); err != nil {
		t.Fatal(err)
	}
	reqs = nil
	p, _ = registry.NewPusher(s, opts())
	if _, err := p.Push(ctx, img, dst+"/app:1"); err != nil {
		t.Fatal(err)
	}
	var manifestHeads int
	for _, r := range reqs {
		switch {
		case r == "GET /v2/":
		case strings.HasPrefix(r, "HEAD /v2/app/manifests/"):
			manifestHeads++
		default:
			t.Errorf("unexpected request re-pushing an unchanged tag: %s", r)
		}
	}
	if manifestHeads != 2 {
		t.Errorf("%d manifest HEADs, want 2: %q", manifestHeads, reqs)
	}
}

func TestPullChecksFreeSpace(t *testing.T) {
	var blobGets atomic.Int32
	host := newRegistry(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
				blobGets.Add(1)
			}
			next.ServeHTTP(w, r)
		})
	})
	seedImage(t, host+"/app:1", 2)
	s := newStore(t)
	before := testutil.TreeHash(t, s.Root())
	_, err := registry.Pull(ctx, s, host+"/app:1", registry.PullOptions{Options: opts(), FreeSpace: func() (int64, error) { return 1000, nil }})
	if !errors.Is(err, registry.ErrInsufficientSpace) || !strings.Contains(err.Error(), "1.00kB free") {
		t.Fatalf("err = %v", err)
	}
	if n := blobGets.Load(); n != 0 {
		t.Errorf("%d blob downloads started for a pull that cannot fit", n)
	}
	if after := testutil.TreeHash(t, s.Root()); after != before {
		t.Errorf("store changed:\n%s\n---\n%s", before, after)
	}
}
