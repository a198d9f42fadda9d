package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"github.com/imgx/imgx/internal/testutil"
	"strings"
	"testing"
)

func TestLoadBadInput(t *testing.T) {
	l := layer(t, "bin/sh")
	im := testImage{tags: []string{"bad:1"}, layers: [][]byte{l}}
	cfg := im.config()
	cfgName := sha(cfg).Encoded() + ".json"
	manifest := func(layers ...string) ent {
		return ent{name: "manifest.json", body: []byte(`[{"Config":"` + cfgName + `","RepoTags":["bad:1"],"Layers":["` + strings.Join(layers, `","`) + `"]}]`)}
	}
	good := []ent{{name: cfgName, body: cfg}, {name: "l/layer.tar", body: l}}
	with := func(extra ...ent) []byte { return mkTar(t, append(append([]ent{}, good...), extra...)) }
	legacy := legacyDocker(t, im)
	oci := ociArchive(t, false, im)
	o := buildOCI(t, im, gz, "application/vnd.oci.image.layer.v1.tar+gzip")
	ociWith := func(index string, ents ...ent) []byte {
		all := []ent{{name: "oci-layout", body: []byte(`{"imageLayoutVersion":"1.0.0"}`)}, {name: "index.json", body: []byte(index)}}
		for d, b := range o.blobs {
			all = append(all, ent{name: blobName(d), body: b})
		}
		return mkTar(t, append(all, ents...))
	}
	idx := func(size int64) string {
		d := o.manifest
		d.Size = size
		return `{"schemaVersion":2,"manifests":[` + jsonOf(d) + `]}`
	}
	bomb := func() []byte {
		zeros := make([]byte, 8<<20)
		return gz(t, mkTar(t, []ent{{name: "big", body: zeros}}))
	}
	wrongLayer := append([]byte{}, l...)
	wrongLayer[600] ^= 1

	cases := []struct {
		name string
		data []byte
		opts LoadOptions
		want error
		msg  string
	}{
		{"truncated legacy", legacy[:len(legacy)/2], LoadOptions{}, nil, "truncated"},
		{"truncated gzip", func() []byte { g := gz(t, oci); return g[:len(g)-100] }(), LoadOptions{}, nil, "truncated"},
		{"corrupt gzip trailer", func() []byte { g := gz(t, oci); g[len(g)-5] ^= 0xff; return g }(), LoadOptions{}, nil, "after the last entry"},
		{"declared size larger than data", mkTar(t, []ent{{name: cfgName, body: cfg, size: int64(len(cfg)) + 5000}}), LoadOptions{}, nil, "truncated"},
		{"blob digest mismatch", ociWith(idx(o.manifest.Size), ent{name: blobName(sha([]byte("x"))), body: []byte("y")}), LoadOptions{}, ErrBadEntry, "entry blobs/sha256/" + sha([]byte("x")).Encoded()},
		{"config digest mismatch", mkTar(t, []ent{{name: cfgName, body: append(cfg, ' ')}}), LoadOptions{}, ErrBadEntry, "entry " + cfgName},
		{"wrong legacy layer", mkTar(t, []ent{{name: cfgName, body: cfg}, {name: "l/layer.tar", body: wrongLayer}, manifest("l/layer.tar")}), LoadOptions{}, ErrBadEntry, "entry l/layer.tar"},
		{"dotdot name", with(ent{name: "../evil", body: []byte("x")}), LoadOptions{}, ErrUnsafeEntry, "entry ../evil"},
		{"inner dotdot name", with(ent{name: "a/../../evil", body: []byte("x")}), LoadOptions{}, ErrUnsafeEntry, "entry a/../../evil"},
		{"absolute name", with(ent{name: "/etc/passwd", body: []byte("x")}), LoadOptions{}, ErrUnsafeEntry, "entry /etc/passwd"},
		{"symlink escaping", with(ent{name: "x/layer.tar", typ: tar.TypeSymlink, link: "../../etc/passwd"}), LoadOptions{}, ErrUnsafeEntry, "entry x/layer.tar"},
		{"absolute symlink", with(ent{name: "x/layer.tar", typ: tar.TypeSymlink, link: "/etc/passwd"}), LoadOptions{}, ErrUnsafeEntry, "entry x/layer.tar"},
		{"absolute hardlink", with(ent{name: "x/layer.tar", typ: tar.TypeLink, link: "/etc/passwd"}), LoadOptions{}, ErrUnsafeEntry, "entry x/layer.tar"},
		{"symlink to missing file", with(ent{name: "x/layer.tar", typ: tar.TypeSymlink, link: "../nope/layer.tar"}, manifest("x/layer.tar")), LoadOptions{}, ErrMissingEntry, "entry x/layer.tar: missing entry: link to nope/layer.tar"},
		{"link loop", with(ent{name: "x", typ: tar.TypeSymlink, link: "y"}, ent{name: "y", typ: tar.TypeSymlink, link: "x"}, manifest("x")), LoadOptions{}, ErrBadEntry, "entry x"},
		{"device entry", with(ent{name: "dev", typ: tar.TypeChar}), LoadOptions{}, ErrBadEntry, "entry dev: bad entry: unsupported entry type character device"},
		{"duplicate entry", with(ent{name: "l/layer.tar", body: l}), LoadOptions{}, ErrDuplicateEntry, "entry l/layer.tar"},
		{"duplicate via ./", with(ent{name: "./" + cfgName, body: cfg}), LoadOptions{}, ErrDuplicateEntry, "entry " + cfgName},
		{"manifest names missing file", with(manifest("nope/layer.tar")), LoadOptions{}, ErrMissingEntry, "layer 1: entry nope/layer.tar"},
		{"manifest path escapes", with(manifest("../l/layer.tar")), LoadOptions{}, ErrUnsafeEntry, "entry ../l/layer.tar"},
		{"diff_ids count", with(manifest("l/layer.tar", "l/layer.tar")), LoadOptions{}, ErrBadMetadata, "2 layers"},
		{"bad RepoTags", with(ent{name: "manifest.json", body: []byte(`[{"Config":"` + cfgName + `","RepoTags":["Bad Name"],"Layers":["l/layer.tar"]}]`)}), LoadOptions{}, ErrBadMetadata, "RepoTags"},
		{"manifest.json not json", with(ent{name: "manifest.json", body: []byte(`{`)}), LoadOptions{}, ErrBadMetadata, "manifest.json"},
		{"index names missing manifest", ociWith(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + sha([]byte("gone")).String() + `","size":4}]}`), LoadOptions{}, ErrMissingEntry, "blobs/sha256/" + sha([]byte("gone")).Encoded()},
		{"descriptor size differs", ociWith(idx(o.manifest.Size + 1)), LoadOptions{}, ErrBadEntry, "entry " + blobName(o.manifest.Digest)},
		{"huge metadata", mkTar(t, []ent{{name: "index.json", body: []byte("{}"), size: 64 << 20}}), LoadOptions{}, ErrTooLarge, "entry index.json"},
		{"decompression bomb", bomb(), LoadOptions{RatioFloor: 1 << 20}, ErrTooLarge, "entry big"},
		{"size cap", bomb(), LoadOptions{MaxSize: 1 << 20}, ErrTooLarge, "entry big"},
		{"not a tar", []byte(strings.Repeat("hello, world\n", 100)), LoadOptions{}, ErrUnknownFormat, "not a tar"},
		{"empty input", nil, LoadOptions{}, ErrUnknownFormat, "no manifest.json or index.json"},
		{"tar without metadata", mkTar(t, good), LoadOptions{}, ErrUnknownFormat, "no manifest.json or index.json"},
		{"pre-1.10 docker save", with(ent{name: "repositories", body: []byte(`{}`)}), LoadOptions{}, ErrUnknownFormat, "Docker 1.10"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := usedStore(t)
			before := testutil.VisibleTreeHash(t, s.Root())
			_, err := Load(context.Background(), s, bytes.NewReader(c.data), c.opts)
			if err == nil {
				t.Fatal("load succeeded")
			}
			t.Log(err)
			if c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("error %q does not wrap %v", err, c.want)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Errorf("error %q does not mention %q", err, c.msg)
			}
			if after := testutil.VisibleTreeHash(t, s.Root()); after != before {
				t.Error("failed load changed the store")
			}
		})
	}
}
