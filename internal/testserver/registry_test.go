package testserver

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/compression"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func registryOpts(r *Registry, auth authn.Authenticator) []remote.Option {
	if auth == nil {
		auth = authn.Anonymous
	}
	return []remote.Option{remote.WithTransport(r.Transport()), remote.WithAuth(auth)}
}

func statusOf(err error) int {
	var te *transport.Error
	if errors.As(err, &te) {
		return te.StatusCode
	}
	return 0
}

// TestRegistryPushPull pushes a random image to each kind of registry,
// reads it back by tag, checks the storage is under Root, deletes it, and,
// with auth on, that a wrong or missing password is refused with 401.
func TestRegistryPushPull(t *testing.T) {
	RealTests(t)
	for _, tc := range []struct {
		name string
		opts RegistryOptions
	}{
		{"plain", RegistryOptions{}},
		{"tls", RegistryOptions{TLS: true}},
		{"auth-over-http", RegistryOptions{User: "alice", Password: "s3cret"}},
		{"tls-auth", RegistryOptions{TLS: true, User: "alice", Password: "s3cret"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := StartRegistry(t, tc.opts)
			var auth authn.Authenticator
			if r.User != "" {
				auth = &authn.Basic{Username: r.User, Password: r.Password}
			}
			ref, err := name.ParseReference(r.Addr + "/imgx/smoke:v1")
			if err != nil {
				t.Fatal(err)
			}
			img, err := random.Image(1024, 2)
			if err != nil {
				t.Fatal(err)
			}
			if err := remote.Write(ref, img, registryOpts(r, auth)...); err != nil {
				t.Fatalf("push: %v", err)
			}
			want, _ := img.Digest()
			desc, err := remote.Get(ref, registryOpts(r, auth)...)
			if err != nil {
				t.Fatalf("get: %v", err)
			}
			if desc.Digest != want {
				t.Errorf("digest = %s, want %s", desc.Digest, want)
			}
			if _, err := os.Stat(filepath.Join(r.Root, "docker/registry/v2/repositories/imgx/smoke")); err != nil {
				t.Errorf("repository not stored under Root: %v", err)
			}

			if r.User != "" {
				for _, bad := range []authn.Authenticator{
					authn.Anonymous,
					&authn.Basic{Username: r.User, Password: "wrong"},
				} {
					_, err := remote.Get(ref, registryOpts(r, bad)...)
					if got := statusOf(err); got != http.StatusUnauthorized {
						t.Errorf("get with %T: status %d (%v), want 401", bad, got, err)
					}
				}
			}

			byDigest := ref.Context().Digest(want.String())
			if err := remote.Delete(byDigest, registryOpts(r, auth)...); err != nil {
				t.Fatalf("delete: %v", err)
			}
			_, err = remote.Get(ref, registryOpts(r, auth)...)
			if got := statusOf(err); got != http.StatusNotFound {
				t.Errorf("get after delete: status %d (%v), want 404", got, err)
			}
		})
	}
}

// TestRegistryTLSRefusesUntrusted checks that the TLS registry is not
// reachable without its CA: a client trusting the system roots fails.
func TestRegistryTLSRefusesUntrusted(t *testing.T) {
	RealTests(t)
	r := StartRegistry(t, RegistryOptions{TLS: true})
	resp, err := http.Get(r.URL() + "/v2/")
	if err == nil {
		resp.Body.Close()
		t.Fatalf("GET /v2/ with system roots: %s, want a certificate error", resp.Status)
	}
}

// ociIndex is a two-platform OCI index whose images have OCI manifests,
// OCI configs and zstd layers: what imgx pushes when asked for zstd. With
// artifactType, the index descriptors keep the artifactType ggcr adds.
func ociIndex(t *testing.T, artifactType bool) v1.ImageIndex {
	t.Helper()
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, arch := range []string{"amd64", "arm64"} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		body := []byte("built for " + arch + "\n")
		tw.WriteHeader(&tar.Header{Name: "arch.txt", Mode: 0o644, Size: int64(len(body))})
		tw.Write(body)
		tw.Close()
		layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(buf.Bytes())), nil
		}, tarball.WithCompression(compression.ZStd), tarball.WithMediaType(types.OCILayerZStd))
		if err != nil {
			t.Fatal(err)
		}
		img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
		img, err = mutate.ConfigFile(img, &v1.ConfigFile{OS: "linux", Architecture: arch, RootFS: v1.RootFS{Type: "layers"}})
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, layer); err != nil {
			t.Fatal(err)
		}
		var add mutate.Appendable = noArtifactType{img}
		if artifactType {
			add = img
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        add,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}},
		})
	}
	return idx
}

// noArtifactType stops ggcr from giving the image's descriptor in the index
// an artifactType (it uses the config media type), which skopeo 1.9 drops
// when it copies an index, changing the index digest. Indexes from docker
// buildx and skopeo carry no artifactType.
type noArtifactType struct{ v1.Image }

func (noArtifactType) ArtifactType() (string, error) { return "", nil }

// checkOCIIndex reads ref back and checks that the registry kept the index,
// its manifests and the zstd layer media type byte for byte.
func checkOCIIndex(t *testing.T, r *Registry, ref name.Reference, want v1.ImageIndex, opts []remote.Option) {
	t.Helper()
	got, err := remote.Index(ref, opts...)
	if err != nil {
		t.Fatalf("get index: %v", err)
	}
	gd, _ := got.Digest()
	wd, _ := want.Digest()
	if gd != wd {
		t.Errorf("index digest = %s, want %s", gd, wd)
	}
	if mt, _ := got.MediaType(); mt != types.OCIImageIndex {
		t.Errorf("index media type = %s", mt)
	}
	im, err := got.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 2 {
		t.Fatalf("index has %d manifests, want 2", len(im.Manifests))
	}
	for _, d := range im.Manifests {
		img, err := remote.Image(ref.Context().Digest(d.Digest.String()), opts...)
		if err != nil {
			t.Fatalf("get %s: %v", d.Platform, err)
		}
		m, err := img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON {
			t.Errorf("%s: manifest %s, config %s", d.Platform, m.MediaType, m.Config.MediaType)
		}
		if len(m.Layers) != 1 || m.Layers[0].MediaType != types.OCILayerZStd {
			t.Errorf("%s: layers %+v, want one %s", d.Platform, m.Layers, types.OCILayerZStd)
		}
	}
}

// TestRegistryOCIIndex checks that distribution 2.8 accepts and returns an
// OCI image index of OCI manifests with zstd layers, pushed by ggcr, byte
// for byte, with or without artifactType in its descriptors.
func TestRegistryOCIIndex(t *testing.T) {
	RealTests(t)
	r := StartRegistry(t, RegistryOptions{})
	for i, artifactType := range []bool{false, true} {
		idx := ociIndex(t, artifactType)
		ref, err := name.ParseReference(fmt.Sprintf("%s/imgx/multi:v%d", r.Addr, i))
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.WriteIndex(ref, idx, registryOpts(r, nil)...); err != nil {
			t.Fatalf("push index (artifactType %v): %v", artifactType, err)
		}
		checkOCIIndex(t, r, ref, idx, registryOpts(r, nil))
	}
}

// TestRegistrySkopeoOCILayout copies a multi-platform OCI layout with
// `skopeo copy --all` to the TLS+auth registry, as a user would.
func TestRegistrySkopeoOCILayout(t *testing.T) {
	skopeo := RequireTool(t, "skopeo", "apt-get install skopeo")
	r := StartRegistry(t, RegistryOptions{TLS: true, User: "bob", Password: "pw"})
	idx := ociIndex(t, false)
	dir := t.TempDir()
	lp, err := layout.Write(filepath.Join(dir, "layout"), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "v1"})); err != nil {
		t.Fatal(err)
	}
	certDir := filepath.Join(dir, "certs")
	os.Mkdir(certDir, 0o755)
	ca, _ := os.ReadFile(r.CAFile)
	os.WriteFile(filepath.Join(certDir, "ca.crt"), ca, 0o644)

	cmd := exec.Command(skopeo, "--insecure-policy", "copy", "--all", "--preserve-digests",
		"--dest-cert-dir", certDir, "--dest-creds", r.User+":"+r.Password,
		"oci:"+filepath.Join(dir, "layout")+":v1", "docker://"+r.Addr+"/imgx/skopeo:v1")
	cmd.Env = append(os.Environ(), "HOME="+dir) // no user auth.json or registries.conf surprises
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("skopeo copy: %v\n%s", err, out)
	}
	ref, _ := name.ParseReference(r.Addr + "/imgx/skopeo:v1")
	checkOCIIndex(t, r, ref, idx, registryOpts(r, &authn.Basic{Username: r.User, Password: r.Password}))
}

// TestRegistryIgnoresEnv checks that REGISTRY_* variables, which override
// the config file, do not move the storage out of Root.
func TestRegistryIgnoresEnv(t *testing.T) {
	RealTests(t)
	elsewhere := t.TempDir()
	t.Setenv("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", elsewhere)
	r := StartRegistry(t, RegistryOptions{})
	ref, _ := name.ParseReference(r.Addr + "/imgx/env:v1")
	img, _ := random.Image(100, 1)
	if err := remote.Write(ref, img, registryOpts(r, nil)...); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(r.Root, "docker")); err != nil {
		t.Errorf("nothing stored under Root: %v", err)
	}
	if ents, _ := os.ReadDir(elsewhere); len(ents) != 0 {
		t.Errorf("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY was used: %v", ents)
	}
}

// TestRegistryQuirks pins down distribution 2.8 behaviour that imgx push and
// pull must live with: it serves an OCI manifest or index only to a client
// whose Accept header names its media type (404 otherwise), rewrites a
// Docker schema 2 manifest fetched by tag into a signed schema 1 one (a
// different digest) when Accept lacks schema 2, and refuses an index whose
// children are not in the repository yet (push children first).
func TestRegistryQuirks(t *testing.T) {
	RealTests(t)
	r := StartRegistry(t, RegistryOptions{})
	repo := r.Addr + "/imgx/quirks"
	idx := ociIndex(t, false)
	ref, _ := name.ParseReference(repo + ":index")
	if err := remote.WriteIndex(ref, idx, registryOpts(r, nil)...); err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	child := "sha256:" + im.Manifests[0].Digest.Hex
	img, _ := random.Image(100, 1) // Docker schema 2
	dref, _ := name.ParseReference(repo + ":docker")
	if err := remote.Write(dref, img, registryOpts(r, nil)...); err != nil {
		t.Fatal(err)
	}
	const (
		ociManifest = string(types.OCIManifestSchema1)
		ociIdx      = string(types.OCIImageIndex)
		dockerV2    = string(types.DockerManifestSchema2)
		dockerV1    = string(types.DockerManifestSchema1Signed)
	)
	for _, tc := range []struct {
		ref, accept string
		want        int
		wantType    string
	}{
		{child, ociManifest, http.StatusOK, ociManifest},
		{child, dockerV2, http.StatusNotFound, ""},
		{child, "", http.StatusNotFound, ""},
		{"index", ociIdx, http.StatusOK, ociIdx},
		{"index", "", http.StatusNotFound, ""},
		{"docker", dockerV2, http.StatusOK, dockerV2},
		{"docker", ociManifest, http.StatusOK, dockerV1},
	} {
		req, _ := http.NewRequest(http.MethodGet, r.URL()+"/v2/imgx/quirks/manifests/"+tc.ref, nil)
		if tc.accept != "" {
			req.Header.Set("Accept", tc.accept)
		}
		resp, err := (&http.Client{Transport: r.Transport()}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET %s with Accept %q: %s, want %d", tc.ref, tc.accept, resp.Status, tc.want)
		} else if ct := resp.Header.Get("Content-Type"); tc.wantType != "" && ct != tc.wantType {
			t.Errorf("GET %s with Accept %q: Content-Type %s, want %s", tc.ref, tc.accept, ct, tc.wantType)
		}
	}

	// An index whose child manifest is missing: 400 MANIFEST_BLOB_UNKNOWN.
	orphan := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	orphan = mutate.AppendManifests(orphan, mutate.IndexAddendum{Add: noArtifactType{img}})
	raw, _ := orphan.RawManifest()
	req, _ := http.NewRequest(http.MethodPut, r.URL()+"/v2/imgx/other/manifests/orphan", bytes.NewReader(raw))
	req.Header.Set("Content-Type", string(types.OCIImageIndex))
	resp, err := (&http.Client{Transport: r.Transport()}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !bytes.Contains(body, []byte("MANIFEST_BLOB_UNKNOWN")) {
		t.Errorf("PUT index with a missing child: %s %s, want 400 MANIFEST_BLOB_UNKNOWN", resp.Status, body)
	}
}
