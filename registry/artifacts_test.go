package registry_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/imgx/imgx/internal/testutil"
	"github.com/imgx/imgx/registry"
	"github.com/imgx/imgx/store"
)

// attachReferrer writes a small artifact whose subject is the manifest at repo@d.
func attachReferrer(t *testing.T, repo name.Repository, d string) string {
	t.Helper()
	desc, err := remote.Head(repo.Digest(d))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := random.Image(512, 1)
	ra := mutate.Subject(a, *desc).(v1.Image)
	rd := digestOf(t, ra)
	if err := remote.Write(repo.Digest(rd), ra); err != nil {
		t.Fatal(err)
	}
	return rd
}

// TestHostilePullArtifacts: within bounds, pull stores the cosign-tag artifacts and the
// referrers linked to the image; a registry attaching more than the bounds allow, or
// listing a referrer that names another subject, fails the pull and leaves the store as
// it was.
func TestHostilePullArtifacts(t *testing.T) {
	ctx := context.Background()
	var lieAbout, lieWith string
	host := newRegistry(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// The referrers API, or its tag fallback (sha256-<hex>), answers for another image.
			if lieAbout != "" && strings.HasSuffix(r.URL.Path, "/referrers/"+lieAbout) {
				r.URL.Path = strings.TrimSuffix(r.URL.Path, lieAbout) + lieWith
			}
			if tag := strings.Replace(lieAbout, ":", "-", 1); lieAbout != "" && strings.HasSuffix(r.URL.Path, "/manifests/"+tag) {
				r.URL.Path = strings.TrimSuffix(r.URL.Path, tag) + strings.Replace(lieWith, ":", "-", 1)
			}
			next.ServeHTTP(w, r)
		})
	})
	img := seedImage(t, host+"/app:1", 1)
	d := digestOf(t, img)
	repo, _ := name.NewRepository(host+"/app", name.Insecure)
	for _, suffix := range []string{".sig", ".att", ".sbom"} {
		a, _ := random.Image(512, 1)
		if err := remote.Write(repo.Tag(strings.Replace(d, ":", "-", 1)+suffix), a); err != nil {
			t.Fatal(err)
		}
	}
	refD := attachReferrer(t, repo, d)

	s := newStore(t)
	res, err := registry.Pull(ctx, s, host+"/app:1", registry.PullOptions{Options: opts()})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[store.ArtifactKind]int{}
	for _, a := range res.Artifacts {
		kinds[a.Kind]++
		if a.Subject.String() != d {
			t.Errorf("artifact %+v: subject is not the image", a)
		}
	}
	if len(res.Artifacts) != 4 || kinds[store.KindReferrer] != 1 || res.Artifacts[3].Digest.String() != refD {
		t.Fatalf("pulled artifacts %+v, want .sig, .att, .sbom and the referrer", res.Artifacts)
	}
	if as, _ := s.ArtifactsOf(ctx, res.Desc); len(as) != 4 {
		t.Fatalf("store links %d artifacts to the image, want 4", len(as))
	}

	for _, tc := range []struct {
		name  string
		o     registry.PullOptions
		setup func()
		want  error
		msg   string
	}{
		{"more artifacts than allowed", registry.PullOptions{Options: opts(), Limits: registry.ArtifactLimits{Count: 3}}, nil, registry.ErrTooManyArtifacts, "more than 3 artifacts"},
		{"larger than allowed", registry.PullOptions{Options: opts(), Limits: registry.ArtifactLimits{Bytes: 2000}}, nil, registry.ErrTooManyArtifacts, "2000 bytes"},
		{"referrer of another subject", registry.PullOptions{Options: opts()}, func() {
			other := seedImage(t, host+"/app:other", 1)
			od := digestOf(t, other)
			attachReferrer(t, repo, od)
			lieAbout, lieWith = d, od
		}, nil, "names another subject"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup()
			}
			s := newStore(t)
			before := testutil.VisibleTreeHash(t, s.Root())
			_, err := registry.Pull(ctx, s, host+"/app:1", tc.o)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Pull = %v, want %v containing %q", err, tc.want, tc.msg)
			}
			if testutil.VisibleTreeHash(t, s.Root()) != before {
				t.Fatal("a refused pull changed the store")
			}
			// --exclude-extras still pulls the image.
			if _, err := registry.Pull(ctx, s, host+"/app:1", registry.PullOptions{Options: tc.o.Options, ExcludeExtras: true, Limits: tc.o.Limits}); err != nil {
				t.Fatalf("pull --exclude-extras: %v", err)
			}
		})
	}
}
