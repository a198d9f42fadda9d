package rootfs

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strings"
	"time"
)

// Opener opens the uncompressed tar stream of one layer. It is called once
// per pass, so it must return the same bytes every time.
type Opener func(ctx context.Context) (io.ReadCloser, error)

const (
	whiteoutPrefix = ".wh."
	whiteoutMeta   = ".wh..wh."
	whiteoutOpaque = ".wh..wh..opq"
)

// pos identifies one tar entry: layer index and ordinal of the entry within
// the layer (counting every header tar.Reader.Next returns).
type pos struct{ layer, ord int }

func (p pos) less(q pos) bool {
	return p.layer < q.layer || p.layer == q.layer && p.ord < q.ord
}

// meta is what Diff compares and what a hard link inherits from its origin.
type meta struct {
	typ            byte
	mode           int64
	uid, gid       int
	size           int64
	mtime          time.Time
	link           string // symlink target (hard links use node.origin)
	devmaj, devmin int64
	xattrs         string // canonical SCHILY.xattr.* records, usually empty
}

func (m *meta) equal(o *meta) bool {
	return m.typ == o.typ && m.mode == o.mode && m.uid == o.uid && m.gid == o.gid &&
		(m.typ == tar.TypeDir || m.size == o.size) && m.mtime.Equal(o.mtime) &&
		m.link == o.link && m.devmaj == o.devmaj && m.devmin == o.devmin && m.xattrs == o.xattrs
}

// origin is the entry whose content a hard link shares.
type origin struct {
	path string
	at   pos
	m    meta
}

// node is one path of the merged filesystem.
type node struct {
	name     string
	parent   *node
	children map[string]*node // non-nil exactly for directories
	hdr      *tar.Header      // directories only: final header, nil if implicit
	m        meta
	at       pos // entry holding the final version (dirs: start when implicit)
	start    pos // dirs: entry where this incarnation began
	seen     int // last layer that mentioned this path
	origin   *origin

	// Set while planning and emitting.
	linkTo  string // hard link target in the output
	emitted bool
	digest  *[32]byte
}

func (n *node) isDir() bool { return n.children != nil }

func (n *node) path() string {
	if n.parent == nil {
		return "."
	}
	var parts []string
	for x := n; x.parent != nil; x = x.parent {
		parts = append(parts, x.name)
	}
	slices.Reverse(parts)
	return strings.Join(parts, "/")
}

// tree is the merged filesystem after pass 1.
type tree struct {
	root *node
}

func newTree() *tree {
	return &tree{root: &node{children: map[string]*node{}, seen: -1}}
}

// lookup returns the node at a clean path, or nil.
func (t *tree) lookup(p string) *node {
	n := t.root
	if p == "." || p == "" {
		return n
	}
	for comp := range strings.SplitSeq(p, "/") {
		if !n.isDir() {
			return nil
		}
		n = n.children[comp]
		if n == nil {
			return nil
		}
	}
	return n
}

// build runs pass 1 over all layers.
func build(ctx context.Context, layers []Opener) (*tree, error) {
	t := newTree()
	for i, open := range layers {
		if err := t.apply(ctx, i, open); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// apply reads the headers of one layer and merges them into the tree.
func (t *tree) apply(ctx context.Context, layer int, open Opener) error {
	rc, err := open(ctx)
	if err != nil {
		return &EntryError{Layer: layer, Err: fmt.Errorf("open: %w", err)}
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	last := ""
	for ord := 0; ; ord++ {
		if ord%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return &EntryError{Layer: layer, Err: readErr(last, err)}
		}
		last = hdr.Name
		if err := t.add(pos{layer, ord}, hdr); err != nil {
			return &EntryError{Layer: layer, Entry: hdr.Name, Err: err}
		}
	}
}

// readErr describes a failure of tar.Reader.Next.
func readErr(last string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if last == "" {
		return fmt.Errorf("%w: read tar: %w", ErrBadLayer, err)
	}
	return fmt.Errorf("%w: read tar after entry %s: %w", ErrBadLayer, last, err)
}

// entryType maps header types onto the ones rootfs handles; skip is set for
// headers that carry no file (PAX global headers).
func entryType(hdr *tar.Header) (typ byte, skip bool, err error) {
	switch hdr.Typeflag {
	case tar.TypeXGlobalHeader:
		return 0, true, nil
	//lint:ignore SA1019 old tars still carry TypeRegA ('\x00'); it means a regular file
	case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse, tar.TypeCont:
		return tar.TypeReg, false, nil
	case tar.TypeLink, tar.TypeSymlink, tar.TypeChar, tar.TypeBlock, tar.TypeDir, tar.TypeFifo:
		return hdr.Typeflag, false, nil
	}
	return 0, false, fmt.Errorf("%w: unsupported entry type %q", ErrBadLayer, hdr.Typeflag)
}

func metaOf(hdr *tar.Header, typ byte) meta {
	m := meta{
		typ:   typ,
		mode:  hdr.Mode & 0o7777,
		uid:   hdr.Uid,
		gid:   hdr.Gid,
		mtime: hdr.ModTime,
	}
	switch typ {
	case tar.TypeReg:
		m.size = hdr.Size
	case tar.TypeSymlink:
		m.link = hdr.Linkname
	case tar.TypeChar, tar.TypeBlock:
		m.devmaj, m.devmin = hdr.Devmajor, hdr.Devminor
	}
	var keys []string
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "SCHILY.xattr.") {
			keys = append(keys, k)
		}
	}
	if len(keys) > 0 {
		slices.Sort(keys)
		var b strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&b, "%q=%q;", k, hdr.PAXRecords[k])
		}
		m.xattrs = b.String()
	}
	return m
}

// implicitDir is the metadata of a directory that appears only as a parent.
var implicitDir = meta{typ: tar.TypeDir, mode: 0o755, mtime: time.Unix(0, 0)}

// add merges one header into the tree.
func (t *tree) add(at pos, hdr *tar.Header) error {
	typ, skip, err := entryType(hdr)
	if err != nil || skip {
		return err
	}
	clean, err := CheckEntryName(hdr.Name)
	if err != nil {
		return err
	}
	if clean == "." {
		if typ != tar.TypeDir {
			return fmt.Errorf("%w: root entry is not a directory", ErrBadLayer)
		}
		return nil
	}
	dir, base := path.Split(clean)
	dir = strings.TrimSuffix(dir, "/")

	if strings.HasPrefix(base, whiteoutPrefix) {
		return t.whiteout(at.layer, dir, base)
	}

	// Resolve a hard link before anything changes: it refers to what exists
	// now, which may be the very path it replaces.
	var org *origin
	if typ == tar.TypeLink {
		target, err := CheckEntryName(hdr.Linkname)
		if err != nil {
			return fmt.Errorf("hard link target %s: %w", hdr.Linkname, err)
		}
		tn := t.lookup(target)
		switch {
		case tn == nil || tn == t.root:
			return fmt.Errorf("%w: hard link target %s not found", ErrBadLayer, target)
		case tn.isDir():
			return fmt.Errorf("%w: hard link target %s is a directory", ErrBadLayer, target)
		case tn.origin != nil:
			org = tn.origin
		default:
			org = &origin{path: target, at: tn.at, m: tn.m}
		}
	}

	p := t.root
	if dir != "" {
		for i, comp := range strings.Split(dir, "/") {
			c := p.children[comp]
			if c == nil {
				c = &node{name: comp, parent: p, children: map[string]*node{}, m: implicitDir, at: at, start: at}
				p.children[comp] = c
			} else if !c.isDir() {
				return fmt.Errorf("%w: parent %s is not a directory", ErrBadLayer,
					strings.Join(strings.Split(dir, "/")[:i+1], "/"))
			}
			c.seen = at.layer
			p = c
		}
	}

	m := metaOf(hdr, typ)
	if old := p.children[base]; old != nil && old.isDir() && typ == tar.TypeDir {
		old.hdr = cloneHeader(hdr)
		old.m = m
		old.at = at
		old.seen = at.layer
		return nil
	}
	n := &node{name: base, parent: p, m: m, at: at, start: at, seen: at.layer, origin: org}
	if typ == tar.TypeDir {
		n.children = map[string]*node{}
		n.hdr = cloneHeader(hdr)
	}
	p.children[base] = n
	return nil
}

// whiteout applies ".wh.NAME" or the opaque marker found in dir.
func (t *tree) whiteout(layer int, dir, base string) error {
	d := t.lookup(dir)
	if base == whiteoutOpaque {
		if d != nil && d.isDir() {
			for _, c := range d.children {
				removeLower(d, c, layer)
			}
		}
		return nil
	}
	if strings.HasPrefix(base, whiteoutMeta) {
		return nil // aufs bookkeeping, not a deletion
	}
	name := base[len(whiteoutPrefix):]
	if name == "" || name == "." || name == ".." {
		return fmt.Errorf("%w: invalid whiteout", ErrBadLayer)
	}
	if d != nil && d.isDir() {
		if c := d.children[name]; c != nil {
			removeLower(d, c, layer)
		}
	}
	return nil
}

// removeLower deletes whatever under n comes only from layers below layer,
// keeping the paths this layer itself provides.
func removeLower(parent, n *node, layer int) {
	if n.seen < layer {
		delete(parent.children, n.name)
		return
	}
	for _, c := range n.children {
		removeLower(n, c, layer)
	}
}

func cloneHeader(h *tar.Header) *tar.Header {
	c := *h
	c.PAXRecords = maps.Clone(h.PAXRecords)
	//lint:ignore SA1019 the reader fills Xattrs from PAXRecords too; clear the copy so the writer does not emit them twice
	c.Xattrs = nil
	return &c
}

// clone deep-copies the tree (LayerDiff keeps the tree below layer n).
func (t *tree) clone() *tree {
	var cp func(n, parent *node) *node
	cp = func(n, parent *node) *node {
		c := *n
		c.parent = parent
		if n.children != nil {
			c.children = make(map[string]*node, len(n.children))
			for k, v := range n.children {
				c.children[k] = cp(v, &c)
			}
		}
		return &c
	}
	return &tree{root: cp(t.root, nil)}
}
