package rootfs

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

// ent describes one crafted tar entry.
type ent struct {
	name     string
	typ      byte
	mode     int64
	uid, gid int
	body     string
	link     string
	xattrs   map[string]string
	major    int64
	minor    int64
	mtime    time.Time
}

var testTime = time.Unix(1700000000, 0)

func file(name, body string) ent { return ent{name: name, typ: tar.TypeReg, mode: 0o644, body: body} }
func dir(name string) ent        { return ent{name: name, typ: tar.TypeDir, mode: 0o755} }
func sym(name, target string) ent {
	return ent{name: name, typ: tar.TypeSymlink, mode: 0o777, link: target}
}
func hard(name, target string) ent {
	return ent{name: name, typ: tar.TypeLink, mode: 0o644, link: target}
}
func wh(name string) ent { return file(name, "") }

func (e ent) withMode(m int64) ent     { e.mode = m; return e }
func (e ent) withOwner(u, g int) ent   { e.uid, e.gid = u, g; return e }
func (e ent) withTime(t time.Time) ent { e.mtime = t; return e }
func (e ent) withXattr(k, v string) ent {
	e.xattrs = maps.Clone(e.xattrs)
	if e.xattrs == nil {
		e.xattrs = map[string]string{}
	}
	e.xattrs[k] = v
	return e
}

// mkTar builds a layer tar from entries.
func mkTar(t testing.TB, ents ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		mt := e.mtime
		if mt.IsZero() {
			mt = testTime
		}
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Uid: e.uid, Gid: e.gid,
			Linkname: e.link, ModTime: mt, Devmajor: e.major, Devminor: e.minor, Format: tar.FormatPAX}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		for k, v := range e.xattrs {
			if h.PAXRecords == nil {
				h.PAXRecords = map[string]string{}
			}
			h.PAXRecords["SCHILY.xattr."+k] = v
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("mkTar %s: %v", e.name, err)
		}
		if e.typ == tar.TypeReg {
			io.WriteString(tw, e.body)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func opener(b []byte) Opener {
	return func(context.Context) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}
}

func openers(bs ...[]byte) []Opener {
	var out []Opener
	for _, b := range bs {
		out = append(out, opener(b))
	}
	return out
}

// describe renders one header (and content) as a compact line:
// "name type mode uid:gid detail".
func describe(h *tar.Header, body []byte) string {
	var detail string
	switch h.Typeflag {
	case tar.TypeReg:
		detail = fmt.Sprintf("%q", body)
	case tar.TypeSymlink:
		detail = "-> " + h.Linkname
	case tar.TypeLink:
		detail = "=> " + h.Linkname
	case tar.TypeChar, tar.TypeBlock:
		detail = fmt.Sprintf("%d,%d", h.Devmajor, h.Devminor)
	}
	var xs []string
	for k, v := range h.PAXRecords {
		if strings.HasPrefix(k, "SCHILY.xattr.") {
			xs = append(xs, strings.TrimPrefix(k, "SCHILY.xattr.")+"="+v)
		}
	}
	slices.Sort(xs)
	s := fmt.Sprintf("%s %c %04o %d:%d", h.Name, h.Typeflag, h.Mode, h.Uid, h.Gid)
	if detail != "" {
		s += " " + detail
	}
	if len(xs) > 0 {
		s += " [" + strings.Join(xs, ",") + "]"
	}
	return s
}

// listTar describes every entry of a tar stream.
func listTar(t testing.TB, b []byte) []string {
	t.Helper()
	var out []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("read flattened tar: %v", err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, describe(h, body))
	}
}

func flatten(t testing.TB, layers ...[]byte) ([]byte, error) {
	t.Helper()
	var buf bytes.Buffer
	err := Flatten(context.Background(), openers(layers...), &buf)
	return buf.Bytes(), err
}
