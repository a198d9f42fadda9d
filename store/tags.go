package store

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/oci"
	"github.com/imgx/imgx/ref"
)

// Annotation keys used for tags in index.json.
const (
	AnnotationRefName    = ocispec.AnnotationRefName  // familiar form, read by skopeo's oci: transport
	AnnotationFullName   = "io.containerd.image.name" // normalised form, as containerd writes it
	annotationRefNameKey = AnnotationRefName
)

// Entry is one image in the store's index: a tag (or none) and the descriptor of the
// manifest or index it points at.
type Entry struct {
	Ref  ref.Ref // zero for an untagged image
	Name string  // the raw name from index.json when it is not a valid reference
	Desc ocispec.Descriptor
}

// Display is the name to show users.
func (e Entry) Display() string {
	switch {
	case !e.Ref.IsZero():
		return e.Ref.Familiar()
	case e.Name != "":
		return e.Name
	}
	return "<none>"
}

// entryRef reads the tag of an index entry: the full name if containerd-style annotations
// carry it, else the ref.name annotation normalised as Docker would (so "debian:bookworm",
// written by skopeo, resolves as docker.io/library/debian:bookworm).
func entryRef(d ocispec.Descriptor) (ref.Ref, string) {
	for _, k := range []string{AnnotationFullName, annotationRefNameKey} {
		if v := d.Annotations[k]; v != "" {
			if r, err := ref.ParseNamed(v); err == nil {
				return r, ""
			}
		}
	}
	return ref.Ref{}, d.Annotations[annotationRefNameKey]
}

// Entries lists the images in the store, in index order.
func (s *Store) Entries() ([]Entry, error) {
	ix, err := s.Index()
	if err != nil {
		return nil, err
	}
	out := make([]Entry, 0, len(ix.Manifests))
	for _, d := range ix.Manifests {
		r, raw := entryRef(d)
		out = append(out, Entry{Ref: r, Name: raw, Desc: d})
	}
	return out, nil
}

// setTag points r at desc in ix; a zero r adds an untagged entry unless desc already has one.
func setTag(ix *ocispec.Index, r ref.Ref, desc ocispec.Descriptor) {
	clean := ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size, Platform: desc.Platform}
	kept := ix.Manifests[:0]
	for _, d := range ix.Manifests {
		er, raw := entryRef(d)
		switch {
		case r.IsZero() && d.Digest == desc.Digest:
			return // already reachable: nothing to add
		case !r.IsZero() && !er.IsZero() && er.String() == r.String():
			continue // the tag moves
		case !r.IsZero() && er.IsZero() && raw == "" && d.Digest == desc.Digest:
			continue // an untagged entry for this image becomes the tagged one
		}
		kept = append(kept, d)
	}
	ix.Manifests = kept
	if !r.IsZero() {
		clean.Annotations = map[string]string{
			AnnotationRefName:  r.Familiar(),
			AnnotationFullName: r.String(),
		}
	}
	ix.Manifests = append(ix.Manifests, clean)
}

// Tag points r at desc, which must be committed (with everything it reaches).
func (s *Store) Tag(ctx context.Context, r ref.Ref, desc ocispec.Descriptor) error {
	tx, err := s.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Discard()
	tx.Tag(r, desc)
	return tx.Commit(ctx)
}

// Untag removes tag r. It returns the descriptor the tag pointed at and whether any other
// entry still points at that digest.
func (s *Store) Untag(ctx context.Context, r ref.Ref) (ocispec.Descriptor, bool, error) {
	var removed ocispec.Descriptor
	var stillUsed bool
	err := s.updateIndex(func(ix *ocispec.Index) error {
		found := false
		kept := ix.Manifests[:0]
		for _, d := range ix.Manifests {
			if er, _ := entryRef(d); !er.IsZero() && er.String() == r.String() {
				removed, found = d, true
				continue
			}
			kept = append(kept, d)
		}
		if !found {
			return fmt.Errorf("tag %s: %w", r.Familiar(), ErrNotFound)
		}
		ix.Manifests = kept
		for _, d := range kept {
			if d.Digest == removed.Digest {
				stillUsed = true
			}
		}
		return nil
	})
	return removed, stillUsed, err
}

// RemoveImage removes every index entry pointing at digest d (all its tags).
func (s *Store) RemoveImage(ctx context.Context, d digest.Digest) ([]Entry, error) {
	var removed []Entry
	err := s.updateIndex(func(ix *ocispec.Index) error {
		kept := ix.Manifests[:0]
		for _, m := range ix.Manifests {
			if m.Digest == d {
				r, raw := entryRef(m)
				removed = append(removed, Entry{Ref: r, Name: raw, Desc: m})
				continue
			}
			kept = append(kept, m)
		}
		if len(removed) == 0 {
			return fmt.Errorf("image %s: %w", d, ErrNotFound)
		}
		ix.Manifests = kept
		return nil
	})
	return removed, err
}

// Resolved is the result of resolving what a user typed.
type Resolved struct {
	Desc ocispec.Descriptor // the manifest or index
	Ref  ref.Ref            // the tag it was found by, or zero
}

// ImageID returns the ID docker shows for an image: its config digest for a manifest;
// for an index (which has no single config) the index digest.
func (s *Store) ImageID(ctx context.Context, desc ocispec.Descriptor) (digest.Digest, error) {
	if !oci.IsManifest(desc.MediaType) {
		return desc.Digest, nil
	}
	data, err := s.ReadBlob(ctx, desc)
	if err != nil {
		return "", err
	}
	m, err := oci.ParseManifest(data)
	if err != nil {
		return "", fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	return m.Config.Digest, nil
}

// Resolve finds the image a user means by s: a tag ("busybox", "example/app:2"),
// NAME@sha256:…, a manifest digest, or an image ID or a unique prefix of one (at least 4
// hex digits). An unknown name wraps ErrNotFound; a prefix matching several images wraps
// ErrAmbiguous and lists them.
func (s *Store) Resolve(ctx context.Context, in string) (Resolved, error) {
	entries, err := s.Entries()
	if err != nil {
		return Resolved{}, err
	}
	r, perr := ref.Parse(in)
	if perr == nil {
		if d := r.Digest(); d != "" {
			for _, e := range entries {
				if e.Desc.Digest == d {
					return Resolved{Desc: withoutAnnotations(e.Desc)}, nil
				}
			}
			return Resolved{}, fmt.Errorf("image %s: %w", in, ErrNotFound)
		}
		for _, e := range entries {
			if !e.Ref.IsZero() && e.Ref.String() == r.String() {
				return Resolved{Desc: withoutAnnotations(e.Desc), Ref: e.Ref}, nil
			}
		}
	}
	for _, e := range entries {
		if e.Ref.IsZero() && e.Name != "" && e.Name == in {
			return Resolved{Desc: withoutAnnotations(e.Desc)}, nil
		}
	}
	if ref.LooksLikeDigest(in) {
		prefix := strings.TrimPrefix(in, "sha256:")
		if len(prefix) < 4 {
			return Resolved{}, fmt.Errorf("image %s: an image ID prefix needs at least 4 hex digits: %w", in, ErrNotFound)
		}
		matches := map[digest.Digest]Entry{}
		for _, e := range entries {
			id, err := s.ImageID(ctx, e.Desc)
			if err != nil {
				continue // a broken image cannot be the one meant; check reports it
			}
			if strings.HasPrefix(id.Encoded(), prefix) || strings.HasPrefix(e.Desc.Digest.Encoded(), prefix) {
				if _, ok := matches[e.Desc.Digest]; !ok {
					matches[e.Desc.Digest] = e
				}
			}
		}
		switch len(matches) {
		case 1:
			for _, e := range matches {
				return Resolved{Desc: withoutAnnotations(e.Desc)}, nil
			}
		case 0:
		default:
			var names []string
			for d, e := range matches {
				names = append(names, fmt.Sprintf("%s (%s)", d.Encoded()[:12], e.Display()))
			}
			sort.Strings(names)
			return Resolved{}, fmt.Errorf("image ID prefix %s matches %d images: %s: %w", in, len(matches), strings.Join(names, ", "), ErrAmbiguous)
		}
	}
	if perr != nil && !ref.LooksLikeDigest(in) {
		return Resolved{}, perr
	}
	return Resolved{}, fmt.Errorf("image %s: %w", in, ErrNotFound)
}

func withoutAnnotations(d ocispec.Descriptor) ocispec.Descriptor {
	d.Annotations = nil
	return d
}
