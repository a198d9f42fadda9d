package rootfs

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Flatten writes the filesystem of the layers (bottom first) to w as one PAX
// tar stream with whiteouts applied. Each path appears once; parents come
// before children and hard link targets before their links.
func Flatten(ctx context.Context, layers []Opener, w io.Writer) error {
	t, err := build(ctx, layers)
	if err != nil {
		return err
	}
	f := &flattener{ctx: ctx, tw: tar.NewWriter(w), buf: make([]byte, 256<<10)}
	if err := stream(ctx, layers, t.planFlatten(len(layers)), f.handle); err != nil {
		return err
	}
	// Directories with no planned position cannot exist: every surviving
	// node got one in planFlatten.
	if err := f.tw.Close(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// planFlatten decides where in pass 2 each surviving node is emitted:
// directories at the entry that began them, other entries at their final
// version, and hard links whose original did not survive at the original's
// position (the first such link becomes a regular file).
func (t *tree) planFlatten(layers int) plan {
	p := newPlan(layers)
	orphans := map[pos][]*node{}
	var walk func(n *node)
	walk = func(n *node) {
		for _, c := range n.children {
			switch {
			case c.isDir():
				p.add(c.start, itemDir, c)
				walk(c)
			case c.origin == nil:
				p.add(c.at, itemEntry, c)
			default:
				if x := t.lookup(c.origin.path); x != nil && !x.isDir() && x.origin == nil && x.at == c.origin.at {
					c.linkTo = c.origin.path
					p.add(c.at, itemEntry, c)
				} else {
					orphans[c.origin.at] = append(orphans[c.origin.at], c)
				}
			}
		}
	}
	walk(t.root)
	for at, links := range orphans {
		slices.SortFunc(links, func(a, b *node) int {
			if a.at.less(b.at) {
				return -1
			}
			return 1
		})
		first := links[0]
		p.add(at, itemPromoted, first)
		target := first.path()
		for _, l := range links[1:] {
			l.linkTo = target
			p.add(l.at, itemEntry, l)
		}
	}
	p.sort()
	return p
}

type flattener struct {
	ctx context.Context
	tw  *tar.Writer
	buf []byte
}

func (f *flattener) handle(layer int, hdr *tar.Header, r io.Reader, its []item) error {
	for _, it := range its {
		n := it.n
		if it.kind == itemDir {
			if err := f.emitDir(n); err != nil {
				return err
			}
			continue
		}
		want, wantType := "", n.m.typ
		if it.kind == itemPromoted {
			want, wantType = n.origin.path, n.origin.m.typ
		} else {
			want = n.path()
		}
		typ, err := checkSame(hdr, want, wantType)
		if err != nil {
			return err
		}
		if err := f.emitDir(n.parent); err != nil {
			return err
		}
		name := want
		if it.kind == itemPromoted {
			name = n.path()
		}
		out := outHeader(hdr, typ, name)
		if typ == tar.TypeLink {
			out.Linkname = n.linkTo
		}
		if err := f.tw.WriteHeader(out); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
		if typ == tar.TypeReg {
			if err := copyContent(f.ctx, f.tw, r, f.buf); err != nil {
				return err
			}
		}
	}
	return nil
}

// emitDir writes directory n, after its parents, unless already written.
func (f *flattener) emitDir(n *node) error {
	if n.parent == nil || n.emitted {
		return nil
	}
	if err := f.emitDir(n.parent); err != nil {
		return err
	}
	n.emitted = true
	var out *tar.Header
	if n.hdr != nil {
		out = outHeader(n.hdr, tar.TypeDir, n.path()+"/")
	} else {
		out = &tar.Header{Typeflag: tar.TypeDir, Name: n.path() + "/", Mode: implicitDir.mode,
			ModTime: implicitDir.mtime, Format: tar.FormatPAX}
	}
	if err := f.tw.WriteHeader(out); err != nil {
		return fmt.Errorf("write output: directory %s: %w", n.path(), err)
	}
	return nil
}

// paxOwned are PAX keys that tar.Header fields already carry, or that
// describe the input's encoding rather than the file.
var paxOwned = map[string]bool{
	"path": true, "linkpath": true, "size": true, "uid": true, "gid": true,
	"uname": true, "gname": true, "mtime": true, "atime": true, "ctime": true,
}

// outHeader builds a fresh header (as archive/tar recommends) with the
// fields rootfs keeps.
func outHeader(h *tar.Header, typ byte, name string) *tar.Header {
	o := &tar.Header{
		Typeflag: typ,
		Name:     name,
		Mode:     h.Mode & 0o7777,
		Uid:      h.Uid,
		Gid:      h.Gid,
		Uname:    h.Uname,
		Gname:    h.Gname,
		ModTime:  h.ModTime,
		Format:   tar.FormatPAX,
	}
	switch typ {
	case tar.TypeReg:
		o.Size = h.Size
	case tar.TypeSymlink, tar.TypeLink:
		o.Linkname = h.Linkname
	case tar.TypeChar, tar.TypeBlock:
		o.Devmajor, o.Devminor = h.Devmajor, h.Devminor
	}
	for k, v := range h.PAXRecords {
		if paxOwned[k] || strings.HasPrefix(k, "GNU.sparse.") {
			continue
		}
		if o.PAXRecords == nil {
			o.PAXRecords = map[string]string{}
		}
		o.PAXRecords[k] = v
	}
	return o
}
