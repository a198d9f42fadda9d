package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/imgx/imgx/internal/testserver"
	"github.com/imgx/imgx/store"
)

// TestPodmanInterop exchanges archives with a real podman (a second writer and reader of
// docker-archive and oci-archive, from Debian): podman loads what imgx saves and imgx
// loads what podman saves, with image IDs (config digests) unchanged both ways.
func TestPodmanInterop(t *testing.T) {
	testserver.RequireTool(t, "podman", "apt-get install podman")
	work := t.TempDir()
	// vfs storage under the test's directory: no daemon, no overlay mounts, nothing left behind.
	podman := func(args ...string) string {
		t.Helper()
		base := []string{"--storage-driver", "vfs", "--root", filepath.Join(work, "podman-root"), "--runroot", filepath.Join(work, "podman-run"), "--events-backend", "none", "--cgroup-manager", "cgroupfs"}
		out, err := exec.Command("podman", append(base, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	bin := imgxBin(t)
	imgx := func(st string, args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, append([]string{"--store", st}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("imgx %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	sender := filepath.Join(work, "sender")
	s, err := store.Open(sender)
	if err != nil {
		t.Fatal(err)
	}
	base := randomLayer(t, 1, 256<<10)
	if err := writeLayered(s, "example/app:1", base, randomLayer(t, 2, 64<<10)); err != nil {
		t.Fatal(err)
	}
	if err := writeLayered(s, "example/web:2", base, randomLayer(t, 3, 32<<10), randomLayer(t, 4, 16<<10)); err != nil {
		t.Fatal(err)
	}
	ids := func(st string) map[string]string {
		var doc imagesJSON
		if err := json.Unmarshal([]byte(imgx(st, "images", "--json")), &doc); err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, im := range doc.Images {
			out[strings.TrimPrefix(im.Repository, "localhost/")+":"+im.Tag] = strings.TrimPrefix(im.ID, "sha256:")
		}
		return out
	}
	podmanIDs := func() map[string]string {
		var ims []struct {
			Id    string
			Names []string
		}
		if err := json.Unmarshal([]byte(podman("images", "--format", "json")), &ims); err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, im := range ims {
			for _, n := range im.Names {
				// podman names the images of a multi-image docker-archive localhost/…
				// and those of a single-image one docker.io/… (its own quirk, the same
				// for archives docker writes); either is the same image.
				n = strings.TrimPrefix(strings.TrimPrefix(n, "docker.io/"), "localhost/")
				out[n] = im.Id
			}
		}
		return out
	}
	want := ids(sender)
	if len(want) != 2 {
		t.Fatalf("sender images: %v", want)
	}

	// imgx save → podman load (docker-archive, then oci-archive).
	imgx(sender, "save", "--format", "docker-archive", "example/app:1", "example/web:2", "-o", filepath.Join(work, "imgx.tar"))
	podman("load", "-i", filepath.Join(work, "imgx.tar"))
	got := podmanIDs()
	for n, id := range want {
		if got[n] != id {
			t.Errorf("podman loaded %s as %s, imgx has %s", n, got[n], id)
		}
	}
	imgx(sender, "save", "--format", "oci-archive", "example/app:1", "-o", filepath.Join(work, "imgx-oci.tar"))
	podman("load", "-i", filepath.Join(work, "imgx-oci.tar"))

	// podman save → imgx load: a multi-image docker-archive and an oci-archive.
	podman("save", "--format", "docker-archive", "-m", "-o", filepath.Join(work, "podman.tar"), "example/app:1", "example/web:2")
	recv := filepath.Join(work, "receiver")
	imgx(recv, "load", "-i", filepath.Join(work, "podman.tar"))
	if got := ids(recv); !sameMap(got, want) {
		t.Errorf("imgx loaded podman's docker-archive as %v, want %v", got, want)
	}
	podman("save", "--format", "oci-archive", "-o", filepath.Join(work, "podman-oci.tar"), "example/web:2")
	recv2 := filepath.Join(work, "receiver2")
	imgx(recv2, "load", "-i", filepath.Join(work, "podman-oci.tar"))
	// podman rewrites the config when it converts to OCI (new image ID); the layers, and
	// so the filesystem, must be the same.
	diffIDs := func(st, name string) string {
		return imgx(st, "inspect", "--format", "{{ .RootFS.DiffIDs }}", name)
	}
	if got, want := diffIDs(recv2, "localhost/example/web:2"), diffIDs(sender, "example/web:2"); got != want {
		t.Errorf("podman's oci-archive loaded with layers %s, want %s", got, want)
	}
	imgx(recv, "check")
	imgx(recv2, "check")
}

func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if a[k] != b[k] {
			return false
		}
	}
	return true
}
