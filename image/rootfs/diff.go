package rootfs

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"slices"
	"strings"
)

// ChangeKind is the kind of a [Change], printed as docker diff does.
type ChangeKind byte

const (
	ChangeAdd    ChangeKind = 'A'
	ChangeModify ChangeKind = 'C'
	ChangeDelete ChangeKind = 'D'
)

func (k ChangeKind) String() string { return string(rune(k)) }

// Change is one difference between two filesystems. Path is absolute-style
// ("/etc/passwd"), as docker diff prints it.
type Change struct {
	Kind ChangeKind
	Path string
}

func (c Change) String() string { return c.Kind.String() + " " + c.Path }

// Diff compares the filesystem of layers a (old) with that of layers b (new)
// and returns the changes sorted by path, with docker's container diff shape:
// an added directory lists every added descendant, a deleted directory is
// one D, a directory replaced by a file is C plus D for its old children.
//
// A path is C when its type, mode, uid/gid, mtime, size, content (sha256,
// hashed while streaming and only when everything else is equal), symlink
// target, device numbers or xattrs differ. A directory is C only when its own
// metadata differs: unlike docker, changes inside it do not mark it. A hard
// link compares as the file it shares content with.
func Diff(ctx context.Context, a, b []Opener) ([]Change, error) {
	ta, err := build(ctx, a)
	if err != nil {
		return nil, fmt.Errorf("old filesystem: %w", err)
	}
	tb, err := build(ctx, b)
	if err != nil {
		return nil, fmt.Errorf("new filesystem: %w", err)
	}
	return diffTrees(ctx, ta, a, tb, b, 0)
}

// LayerDiff returns what layer n (0-based) adds, changes and deletes in the
// filesystem of layers[:n], with the semantics of [Diff]. Entries of the
// lower layers are read once and never hashed.
func LayerDiff(ctx context.Context, layers []Opener, n int) ([]Change, error) {
	if n < 0 || n >= len(layers) {
		return nil, fmt.Errorf("layer %d out of range: image has %d layers", n, len(layers))
	}
	t := newTree()
	for i := range n {
		if err := t.apply(ctx, i, layers[i]); err != nil {
			return nil, err
		}
	}
	base := t.clone()
	if err := t.apply(ctx, n, layers[n]); err != nil {
		return nil, err
	}
	return diffTrees(ctx, base, layers[:n], t, layers[:n+1], n)
}

// effective returns the metadata and content position of what a node shows:
// a hard link shows the file it shares an inode with.
func effective(n *node) (*meta, pos) {
	if n.origin != nil {
		return &n.origin.m, n.origin.at
	}
	return &n.m, n.at
}

// diffTrees compares two trees. Entries below layer shared are the same
// bytes on both sides, so equal positions there mean equal content.
func diffTrees(ctx context.Context, ta *tree, la []Opener, tb *tree, lb []Opener, shared int) ([]Change, error) {
	pa, pb := newPlan(len(la)), newPlan(len(lb))
	var plan func(o, n *node)
	plan = func(o, n *node) {
		for name, nc := range n.children {
			oc := o.children[name]
			if oc == nil {
				continue
			}
			if nc.isDir() && oc.isDir() {
				plan(oc, nc)
				continue
			}
			mo, po := effective(oc)
			mn, pn := effective(nc)
			if mo.typ != tar.TypeReg || !mo.equal(mn) || po == pn && po.layer < shared {
				continue
			}
			pa.add(po, itemHash, oc)
			pb.add(pn, itemHash, nc)
		}
	}
	plan(ta.root, tb.root)
	pa.sort()
	pb.sort()
	h := &hasher{ctx: ctx, buf: make([]byte, 256<<10)}
	if err := stream(ctx, la, pa, h.handle); err != nil {
		return nil, fmt.Errorf("old filesystem: %w", err)
	}
	if err := stream(ctx, lb, pb, h.handle); err != nil {
		return nil, fmt.Errorf("new filesystem: %w", err)
	}

	var out []Change
	diffDir(ta.root, tb.root, "", shared, &out)
	slices.SortFunc(out, func(a, b Change) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

// diffDir appends the changes between directories o (nil: did not exist)
// and n, recursing the way docker's changes walk does.
func diffDir(o, n *node, prefix string, shared int, out *[]Change) {
	for name, nc := range n.children {
		p := prefix + "/" + name
		var oc *node
		if o != nil {
			oc = o.children[name]
		}
		if oc == nil {
			*out = append(*out, Change{ChangeAdd, p})
			if nc.isDir() {
				diffDir(nil, nc, p, shared, out)
			}
			continue
		}
		if changed(oc, nc, shared) {
			*out = append(*out, Change{ChangeModify, p})
		}
		switch {
		case nc.isDir() && oc.isDir():
			diffDir(oc, nc, p, shared, out)
		case nc.isDir():
			diffDir(nil, nc, p, shared, out)
		case oc.isDir():
			for name := range oc.children {
				*out = append(*out, Change{ChangeDelete, p + "/" + name})
			}
		}
	}
	if o != nil {
		for name := range o.children {
			if n.children[name] == nil {
				*out = append(*out, Change{ChangeDelete, prefix + "/" + name})
			}
		}
	}
}

func changed(o, n *node, shared int) bool {
	mo, po := effective(o)
	mn, pn := effective(n)
	if !mo.equal(mn) {
		return true
	}
	if mo.typ != tar.TypeReg || po == pn && po.layer < shared {
		return false
	}
	return o.digest == nil || n.digest == nil || *o.digest != *n.digest
}

// hasher is the pass-2 handler of Diff: it hashes planned contents.
type hasher struct {
	ctx context.Context
	buf []byte
}

func (h *hasher) handle(_ int, hdr *tar.Header, r io.Reader, its []item) error {
	n := its[0].n
	want := n.path()
	if n.origin != nil {
		want = n.origin.path
	}
	if _, err := checkSame(hdr, want, tar.TypeReg); err != nil {
		return err
	}
	sum := sha256.New()
	if err := copyContent(h.ctx, sum, r, h.buf); err != nil {
		return err
	}
	var d [32]byte
	sum.Sum(d[:0])
	for _, it := range its {
		it.n.digest = &d
	}
	return nil
}
