package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/internal/testserver"
)

// needTools is the real-peer gate: it skips unless IMGX_REAL_TESTS=1, and fails under it
// when one of the tools (Debian packages of the same name) is not installed.
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		testserver.RequireTool(t, tool, "apt-get install "+tool)
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// umociImage builds an image with umoci in an OCI layout at dir, tagged base: two layers,
// with a file deleted in the second (a whiteout) and a symlink.
func umociImage(t *testing.T, dir string) {
	work := t.TempDir()
	run(t, "umoci", "init", "--layout", dir)
	run(t, "umoci", "new", "--image", dir+":base")
	bundle := filepath.Join(work, "b")
	run(t, "umoci", "unpack", "--image", dir+":base", bundle)
	root := filepath.Join(bundle, "rootfs")
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/hello"), []byte("hello\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/gone"), []byte("soon deleted\n"), 0o600)
	os.WriteFile(filepath.Join(root, "big"), bytes.Repeat([]byte("imgx "), 200000), 0o755)
	run(t, "umoci", "repack", "--image", dir+":base", bundle)
	os.Remove(filepath.Join(root, "etc/gone"))
	os.Symlink("hello", filepath.Join(root, "etc/link"))
	run(t, "umoci", "repack", "--image", dir+":base", bundle)
	run(t, "umoci", "config", "--image", dir+":base", "--config.cmd", "/bin/sh", "--config.env", "A=1")
}

// treeOf unpacks an image with umoci and describes its root filesystem.
func treeOf(t *testing.T, image string) string {
	b := filepath.Join(t.TempDir(), "b")
	run(t, "umoci", "unpack", "--image", image, b)
	root := filepath.Join(b, "rootfs")
	var lines []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, _ := d.Info()
		line := fmt.Sprintf("%s %v", rel, fi.Mode())
		switch {
		case fi.Mode().IsRegular():
			data, _ := os.ReadFile(p)
			h := sha256.Sum256(data)
			line += " " + hex.EncodeToString(h[:8])
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			line += " -> " + l
		}
		lines = append(lines, line)
		return nil
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func layoutManifest(t *testing.T, dir, refName string) digest.Digest {
	data, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ix ocispec.Index
	json.Unmarshal(data, &ix)
	for _, m := range ix.Manifests {
		if m.Annotations[ocispec.AnnotationRefName] == refName {
			return m.Digest
		}
	}
	t.Fatalf("%s: no %s in index.json", dir, refName)
	return ""
}

func TestRealTools(t *testing.T) {
	needTools(t, "skopeo", "umoci")
	ctx := context.Background()
	tmp := t.TempDir()
	src := filepath.Join(tmp, "src")
	umociImage(t, src)
	want := treeOf(t, src+":base")
	if !strings.Contains(want, "etc/link") || strings.Contains(want, "etc/gone") {
		t.Fatalf("umoci image tree unexpected:\n%s", want)
	}
	manDigest := layoutManifest(t, src, "base")
	s := newStore(t)

	// skopeo's docker-archive (legacy layout, symlinked layer.tar files): loads, keeps the
	// image ID.
	da := filepath.Join(tmp, "skopeo-docker.tar")
	run(t, "skopeo", "copy", "-q", "oci:"+src+":base", "docker-archive:"+da+":app:1")
	res, err := LoadPath(ctx, s, da, nil, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Images) != 1 || res.Images[0].Name != "app:1" {
		t.Fatalf("docker-archive from skopeo: %+v", res.Images)
	}
	var cfgDigest digest.Digest
	{
		out := run(t, "skopeo", "inspect", "--raw", "oci:"+src+":base")
		var m ocispec.Manifest
		json.Unmarshal([]byte(out), &m)
		cfgDigest = m.Config.Digest
	}
	if res.Images[0].ID != cfgDigest {
		t.Errorf("image ID %s, want the config digest %s", res.Images[0].ID, cfgDigest)
	}

	// skopeo's oci-archive keeps the manifest digest.
	oa := filepath.Join(tmp, "skopeo.oci.tar")
	run(t, "skopeo", "copy", "-q", "oci:"+src+":base", "oci-archive:"+oa+":web:2")
	if res, err = LoadPath(ctx, s, oa, nil, LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	if len(res.Images) != 1 || res.Images[0].Name != "web:2" || res.Images[0].Digest != manDigest {
		t.Fatalf("oci-archive from skopeo: %+v, want manifest %s", res.Images, manDigest)
	}

	// umoci's layout directory: ref.name "base" is a bare tag, so the image loads untagged.
	if res, err = LoadPath(ctx, s, src, nil, LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	if len(res.Images) != 1 || res.Images[0].Digest != manDigest || res.Images[0].Name != "" || len(res.Notes) != 1 {
		t.Fatalf("layout dir: %+v %v", res.Images, res.Notes)
	}
	checkStore(t, s)

	// imgx's archives are read by skopeo and unpack with umoci to the same tree.
	for _, f := range []Format{FormatDockerArchive, FormatOCIArchive} {
		out := filepath.Join(tmp, "imgx-"+string(f)+".tar")
		fh, err := os.Create(out)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Save(ctx, s, fh, resolveAll(t, s, "app:1", "web:2"), SaveOptions{Format: f}); err != nil {
			t.Fatal(err)
		}
		fh.Close()
		dst := filepath.Join(tmp, "back-"+string(f))
		for _, name := range []string{"app:1", "web:2"} {
			srcRef := string(f) + ":" + out + ":" + name
			if f == FormatDockerArchive {
				srcRef = string(f) + ":" + out + ":docker.io/library/" + name
			}
			tag := strings.ReplaceAll(name, ":", "-")
			args := []string{"copy", "-q", srcRef, "oci:" + dst + ":" + tag}
			if f == FormatOCIArchive {
				// skopeo would otherwise gzip the uncompressed layers of app:1.
				args = append(args[:2], append([]string{"--preserve-digests"}, args[2:]...)...)
			}
			run(t, "skopeo", args...)
			if got := treeOf(t, dst+":"+tag); got != want {
				t.Errorf("%s %s unpacks to\n%s\nwant\n%s", f, name, got, want)
			}
			if f == FormatOCIArchive {
				if d, w := layoutManifest(t, dst, tag), resolveAll(t, s, name)[0].Desc.Digest; d != w {
					t.Errorf("%s: manifest %s after skopeo copy, want %s", name, d, w)
				}
			}
		}
		// Round trip through imgx itself keeps manifest and config digests.
		s2 := newStore(t)
		res, err := LoadPath(ctx, s2, out, nil, LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range res.Images {
			if l.ID != cfgDigest {
				t.Errorf("%s round trip: %s has ID %s, want %s", f, l.Name, l.ID, cfgDigest)
			}
		}
	}
}
