package store

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"

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

// Label names the entry in messages: its tag, its raw name, or its digest.
func (e Entry) Label() string {
	if e.Ref.IsZero() && e.Name == "" {
		return e.Desc.Digest.String()
	}
	return e.Display()
}

func entryOf(d ocispec.Descriptor) Entry {
	r, raw := entryRef(d)
	return Entry{Ref: r, Name: raw, Desc: d}
}

// entryRef reads the tag of an index entry. org.opencontainers.image.ref.name is the
// standard annotation and the one skopeo and umoci read and write, so it decides;
// io.containerd.image.name only adds the repository when the two agree:
//
//   - ref.name alone ("debian:bookworm", skopeo; "latest", umoci) is normalised as
//     Docker would: docker.io/library/debian:bookworm, docker.io/library/latest:latest.
//   - ref.name equal to the containerd name's tag ("1.0" with
//     "docker.io/library/app:1.0", as containerd exports write) or naming the same
//     image in another spelling (imgx writes "app:1.0" with "docker.io/library/app:1.0"):
//     the containerd name.
//   - ref.name that disagrees with the containerd name: ref.name, normalised as if it
//     were alone. umoci's config --tag and repack copy the old entry's annotations and
//     change only ref.name, so the containerd name is stale there; reading ref.name as
//     written means the name given to umoci is the one imgx and skopeo find.
//   - no ref.name: the containerd name.
//
// A name that is not a valid reference is returned raw, with a zero Ref.
// entryRefCalls counts entry parses: the many-tags test checks that a commit parses each
// entry a bounded number of times (work, not wall-clock time, which a shared machine skews).
var entryRefCalls atomic.Int64

func entryRef(d ocispec.Descriptor) (ref.Ref, string) {
	entryRefCalls.Add(1)
	name, full := d.Annotations[annotationRefNameKey], d.Annotations[AnnotationFullName]
	var fr ref.Ref
	if full != "" {
		fr, _ = ref.ParseNamed(full)
	}
	if name == "" {
		if !fr.IsZero() {
			return fr, ""
		}
		return ref.Ref{}, full
	}
	if !fr.IsZero() && fr.Tag() == name {
		return fr, ""
	}
	if r, err := ref.ParseNamed(name); err == nil {
		return r, ""
	}
	return ref.Ref{}, name
}

// Entries lists the images in the store, in index order.
func (s *Store) Entries() ([]Entry, error) {
	ix, err := s.Index()
	if err != nil {
		return nil, err
	}
	out := make([]Entry, 0, len(ix.Manifests))
	for _, d := range ix.Manifests {
		if isArtifactEntry(d) {
			continue // not an image; see Artifacts
		}
		out = append(out, entryOf(d))
	}
	return out, nil
}

// setTags points each tag's ref at its desc in ix, in order: a tag that moves replaces
// its old entries and absorbs an untagged entry of the same image; a zero ref adds an
// untagged entry unless the image already has one. It runs in linear time, each existing
// entry's name parsed once. A bundle may carry tens of thousands of tags, and
// re-parsing the whole index for each one took minutes with the store locked.
func setTags(ix *ocispec.Index, tags []tagOp) {
	type entry struct {
		d        ocispec.Descriptor
		key      string // the entry's tag, "" for none
		untagged bool   // no name at all (neither parsed nor raw)
		gone     bool
	}
	var ents []*entry
	byKey := map[string][]*entry{}
	untagged := map[digest.Digest][]*entry{}
	live := map[digest.Digest]int{}
	add := func(e *entry) {
		ents = append(ents, e)
		live[e.d.Digest]++
		if e.key != "" {
			byKey[e.key] = append(byKey[e.key], e)
		}
		if e.untagged {
			untagged[e.d.Digest] = append(untagged[e.d.Digest], e)
		}
	}
	drop := func(es []*entry) {
		for _, e := range es {
			if !e.gone {
				e.gone = true
				live[e.d.Digest]--
			}
		}
	}
	var arts []ocispec.Descriptor // kept as they are, after the images
	for _, d := range ix.Manifests {
		if isArtifactEntry(d) {
			arts = append(arts, d)
			continue
		}
		er, raw := entryRef(d)
		e := &entry{d: d, untagged: er.IsZero() && raw == ""}
		if !er.IsZero() {
			e.key = er.String()
		}
		add(e)
	}
	for _, t := range tags {
		clean := ocispec.Descriptor{MediaType: t.desc.MediaType, Digest: t.desc.Digest, Size: t.desc.Size, Platform: t.desc.Platform}
		if t.ref.IsZero() {
			if live[t.desc.Digest] == 0 {
				add(&entry{d: clean, untagged: true})
			}
			continue
		}
		key := t.ref.String()
		drop(byKey[key])
		drop(untagged[t.desc.Digest])
		delete(byKey, key)
		delete(untagged, t.desc.Digest)
		clean.Annotations = map[string]string{
			AnnotationRefName:  t.ref.Familiar(),
			AnnotationFullName: key,
		}
		add(&entry{d: clean, key: key})
	}
	kept := ix.Manifests[:0]
	for _, e := range ents {
		if !e.gone {
			kept = append(kept, e.d)
		}
	}
	ix.Manifests = append(kept, arts...)
}

// Tag points r at desc, which must be committed (with everything it reaches).
func (s *Store) Tag(ctx context.Context, r ref.Ref, desc ocispec.Descriptor) error {
	_, err := s.Add(ctx, r, func(*Tx) (ocispec.Descriptor, error) { return desc, nil })
	return err
}

// Add runs build in a new transaction, tags the image it returns as r (a zero r keeps it
// untagged but reachable) and commits. On any error nothing becomes visible.
func (s *Store) Add(ctx context.Context, r ref.Ref, build func(tx *Tx) (ocispec.Descriptor, error)) (ocispec.Descriptor, error) {
	tx, err := s.Begin(ctx)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	defer tx.Discard()
	desc, err := build(tx)
	if err != nil {
		return desc, err
	}
	tx.Tag(r, desc)
	return desc, tx.Commit(ctx)
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
			if er, _ := entryRef(d); !isArtifactEntry(d) && !er.IsZero() && er.String() == r.String() {
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

// Remove removes the index entries that match selects and nothing else; with prune it
// then frees the blobs no remaining entry reaches, in the same locked step. It returns
// the entries removed, in index order.
//
// With prune, Remove first reads the whole content graph of the entries that stay; if
// that fails (an unreadable index.json, or a manifest or index some remaining image
// reaches that is missing, corrupted or does not parse) nothing changes, not even
// index.json, and the error wraps ErrIncomplete and names the image and blob. Removing
// the broken image itself works, since it is not among those that stay. If a load or
// import is running, Remove with prune returns ErrBusy and changes nothing.
func (s *Store) Remove(ctx context.Context, match func(Entry) bool, prune bool) ([]Entry, PruneReport, error) {
	if prune {
		return s.collect(ctx, match)
	}
	var removed []Entry
	err := s.updateIndex(func(ix *ocispec.Index) error {
		kept := ix.Manifests[:0]
		for _, d := range ix.Manifests {
			if e := entryOf(d); !isArtifactEntry(d) && match(e) {
				removed = append(removed, e)
				continue
			}
			kept = append(kept, d)
		}
		ix.Manifests = kept
		return nil
	})
	return removed, PruneReport{}, err
}

// Resolved is the result of resolving what a user typed.
type Resolved struct {
	Desc ocispec.Descriptor // the manifest or index
	Ref  ref.Ref            // the tag it was found by, or zero
	Name string             // the raw name it was found by (one that is not a valid reference), or ""
}

// Matches reports whether e is one of the entries r stands for: the entries with its tag
// (or raw name), or, when r was resolved by digest or image ID, every entry of that
// image. [Store.Remove] takes it to remove exactly what a user named.
func (r Resolved) Matches(e Entry) bool {
	switch {
	case !r.Ref.IsZero():
		return !e.Ref.IsZero() && e.Ref.String() == r.Ref.String()
	case r.Name != "":
		return e.Ref.IsZero() && e.Name == r.Name
	}
	return e.Desc.Digest == r.Desc.Digest
}

// ShortID is the form of an image ID that listings (imgx images) and messages show: its
// first 12 hex digits, as docker shows them. Resolve takes it back.
func ShortID(id digest.Digest) string {
	if h := id.Encoded(); len(h) > 12 {
		return h[:12]
	}
	return id.Encoded()
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
			return Resolved{Desc: withoutAnnotations(e.Desc), Name: e.Name}, nil
		}
	}
	if ref.LooksLikeDigest(in) {
		prefix := strings.TrimPrefix(in, "sha256:")
		if len(prefix) < 4 {
			return Resolved{}, fmt.Errorf("image %s: an image ID prefix needs at least 4 hex digits: %w", in, ErrNotFound)
		}
		matches := map[digest.Digest]Entry{}
		ids := map[digest.Digest]digest.Digest{}
		for _, e := range entries {
			id, err := s.ImageID(ctx, e.Desc)
			if err != nil {
				continue // a broken image cannot be the one meant; check reports it
			}
			if strings.HasPrefix(id.Encoded(), prefix) || strings.HasPrefix(e.Desc.Digest.Encoded(), prefix) {
				if _, ok := matches[e.Desc.Digest]; !ok {
					matches[e.Desc.Digest] = e
					ids[e.Desc.Digest] = id
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
				names = append(names, fmt.Sprintf("%s (%s)", ShortID(ids[d]), e.Display()))
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
