package rootfs

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
)

type itemKind uint8

const (
	itemDir      itemKind = iota // emit a directory (and its parents) here
	itemEntry                    // emit this entry as the node's final version
	itemPromoted                 // emit this dead origin's content at a hard link's path
	itemHash                     // hash this entry's content for the node
)

// item is one thing pass 2 does at an entry position.
type item struct {
	ord  int
	kind itemKind
	n    *node
}

// plan holds the items of pass 2, per layer, sorted by ordinal.
type plan [][]item

func newPlan(layers int) plan { return make(plan, layers) }

func (p plan) add(at pos, kind itemKind, n *node) {
	p[at.layer] = append(p[at.layer], item{ord: at.ord, kind: kind, n: n})
}

func (p plan) sort() {
	for _, its := range p {
		slices.SortStableFunc(its, func(a, b item) int { return a.ord - b.ord })
	}
}

// handler receives one entry of pass 2 and the items planned for it.
type handler func(layer int, hdr *tar.Header, r io.Reader, its []item) error

// stream runs pass 2: it re-opens every layer that has planned items, bottom
// up, and hands the planned entries to fn. It stops reading a layer after its
// last planned entry.
func stream(ctx context.Context, layers []Opener, p plan, fn handler) error {
	for layer, its := range p {
		if len(its) == 0 {
			continue
		}
		if err := streamLayer(ctx, layer, layers[layer], its, fn); err != nil {
			return err
		}
	}
	return nil
}

func streamLayer(ctx context.Context, layer int, open Opener, its []item, fn handler) error {
	rc, err := open(ctx)
	if err != nil {
		return &EntryError{Layer: layer, Err: fmt.Errorf("open: %w", err)}
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	last := ""
	for ord, k := 0, 0; k < len(its); ord++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			return &EntryError{Layer: layer, Err: fmt.Errorf("%w: layer changed between passes: ends early", ErrBadLayer)}
		}
		if err != nil {
			return &EntryError{Layer: layer, Err: readErr(last, err)}
		}
		last = hdr.Name
		if its[k].ord != ord {
			continue
		}
		j := k
		for j < len(its) && its[j].ord == ord {
			j++
		}
		if err := fn(layer, hdr, tr, its[k:j]); err != nil {
			var ee *EntryError
			if errors.As(err, &ee) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return err
			}
			return &EntryError{Layer: layer, Entry: hdr.Name, Err: err}
		}
		k = j
	}
	return nil
}

// checkSame verifies that an entry of pass 2 is the one pass 1 planned for.
func checkSame(hdr *tar.Header, wantPath string, wantType byte) (byte, error) {
	typ, _, err := entryType(hdr)
	if err != nil {
		return 0, err
	}
	clean, err := CheckEntryName(hdr.Name)
	if err != nil {
		return 0, err
	}
	if clean != wantPath || typ != wantType {
		return 0, fmt.Errorf("%w: layer changed between passes: want %s", ErrBadLayer, wantPath)
	}
	return typ, nil
}

// copyContent copies an entry's content, checking ctx between chunks, and
// tells read failures (bad layer) from write failures.
func copyContent(ctx context.Context, dst io.Writer, src io.Reader, buf []byte) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, rerr := src.Read(buf)
		if n > 0 {
			if _, err := dst.Write(buf[:n]); err != nil {
				return fmt.Errorf("write: %w", err)
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return fmt.Errorf("%w: read content: %w", ErrBadLayer, rerr)
		}
	}
}
