package syncstate

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/imgx/imgx/bundle"
	"github.com/imgx/imgx/internal/storetest"
	"github.com/imgx/imgx/internal/testserver"
	"github.com/imgx/imgx/store"
)

// filesTar is a layer of n incompressible 8 KiB files named prefix-NN; the files in
// changed get other contents (a rebuild), and every header gets the night's mtime.
func filesTar(prefix string, n, night int, changed ...int) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for i := range n {
		seed := uint64(i) + uint64(len(prefix))<<32
		for _, c := range changed {
			if c == i {
				seed += uint64(night) << 40
			}
		}
		r := rand.New(rand.NewPCG(seed, 3))
		data := make([]byte, 8<<10)
		for j := range data {
			data[j] = byte(r.Uint32())
		}
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("%s-%02d", prefix, i), Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data)),
			ModTime: time.Unix(1700000000+int64(86400*night), 0), Format: tar.FormatPAX})
		tw.Write(data)
	}
	tw.Close()
	return b.Bytes()
}

// nightlyImage stores an image of the given layer tars (gzipped as docker does) under tag.
func nightlyImage(t *testing.T, s *store.Store, tag string, tars ...[]byte) store.Resolved {
	t.Helper()
	ctx := context.Background()
	storetest.TarImage(t, s, tag, tars...)
	res, err := s.Resolve(ctx, tag)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// Three nights of a rebuilt image over a state file with layer recipes: night one ships
// everything; night two the application layer is rebuilt with two changed files; night
// three the base layer is "upgraded" (three files) and the application layer rebuilt
// again. The receiver loads each bundle and ends with the sender's digests.
func TestThreeNightsLayerRecipes(t *testing.T) {
	ctx := context.Background()
	src, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dst, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	statePath := filepath.Join(t.TempDir(), "sent.json")
	images := [][][]byte{
		{filesTar("os", 60, 1), filesTar("app", 30, 1)},
		{filesTar("os", 60, 1), filesTar("app", 30, 2, 4, 11)},
		{filesTar("os", 60, 3, 7, 8, 9), filesTar("app", 30, 3, 4, 20)},
	}
	for night, layers := range images {
		img := nightlyImage(t, src, "example/app:nightly", layers...)
		name := fmt.Sprintf("night-%d.imgx", night+1)
		var buf bytes.Buffer
		var size int64
		r, err := Send(ctx, src, []store.Resolved{img}, toBuffer(&buf, &size), SendOptions{
			StatePath: statePath, Name: name, Bundle: bundle.SaveOptions{LayerRecipes: true, TempDir: t.TempDir()}})
		if err != nil {
			t.Fatalf("night %d: %v", night+1, err)
		}
		m := r.Bundle.Manifest
		var layerBytes int64
		for _, d := range r.Bundle.Layers {
			if !d.Recipe {
				t.Errorf("night %d: layer %s shipped whole: %s", night+1, d.Layer, d.Reason)
			}
		}
		for _, rc := range m.Recipes {
			layerBytes += rc.Layer.Size
		}
		wantRecipes := []int{0, 1, 2}[night]
		if len(m.Recipes) != wantRecipes {
			t.Fatalf("night %d: %d recipes, want %d (decisions %+v)", night+1, len(m.Recipes), wantRecipes, r.Bundle.Layers)
		}
		if night > 0 && r.Bundle.Written*4 > layerBytes {
			t.Errorf("night %d: bundle of %d bytes for %d bytes of rebuilt layers", night+1, r.Bundle.Written, layerBytes)
		}
		t.Logf("night %d: bundle %d bytes, %d recipes for %d bytes of layers", night+1, r.Bundle.Written, len(m.Recipes), layerBytes)
		lr, err := bundle.Load(ctx, dst, bytes.NewReader(buf.Bytes()), bundle.LoadOptions{})
		if err != nil {
			t.Fatalf("night %d: load: %v", night+1, err)
		}
		if lr.LayersRebuilt != wantRecipes {
			t.Fatalf("night %d: %d layers rebuilt", night+1, lr.LayersRebuilt)
		}
		got, err := dst.Resolve(ctx, "example/app:nightly")
		if err != nil || got.Desc.Digest != img.Desc.Digest {
			t.Fatalf("night %d: receiver has %v (%v), sender %s", night+1, got.Desc.Digest, err, img.Desc.Digest)
		}
	}
	if rep, err := dst.Check(ctx); err != nil || !rep.OK() {
		t.Fatalf("receiver store check: %+v, %v", rep.Problems, err)
	}

	t.Run("skopeo inspect agrees", func(t *testing.T) {
		skopeo := testserver.HostTool(t, "skopeo", "apt-get install -y skopeo")
		out, err := exec.Command(skopeo, "inspect", "--raw", "oci:"+dst.Root()+":example/app:nightly").Output()
		if err != nil {
			// skopeo names OCI layout images by their ref.name annotation, the full name.
			out, err = exec.Command(skopeo, "inspect", "--raw", "oci:"+dst.Root()+":docker.io/example/app:nightly").Output()
		}
		if err != nil {
			t.Fatalf("skopeo inspect: %v", err)
		}
		want, _ := src.Resolve(ctx, "example/app:nightly")
		if got := digest.FromBytes(out); got != want.Desc.Digest {
			t.Fatalf("skopeo sees %s, sender %s (%s)", got, want.Desc.Digest, strings.TrimSpace(string(out[:min(200, len(out))])))
		}
	})
}
