package archive

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/internal/compress"
	"github.com/imgx/imgx/internal/jsonlimit"
	"github.com/imgx/imgx/oci"
	"github.com/imgx/imgx/ref"
	"github.com/imgx/imgx/store"
)

// Loaded is one image an archive added to the store. An image with several tags appears
// once per tag; an untagged image appears once with an empty Name.
type Loaded struct {
	Ref       ref.Ref       `json:"-"`
	Name      string        `json:"name,omitempty"` // familiar NAME:TAG, empty when untagged
	ID        digest.Digest `json:"id"`             // image ID: config digest (index digest for an index)
	Digest    digest.Digest `json:"digest"`         // manifest or index digest in the store
	MediaType string        `json:"mediaType"`
}

// dockerEntry is one element of a docker-archive manifest.json.
type dockerEntry struct {
	Config       string
	RepoTags     []string
	Layers       []string
	LayerSources map[digest.Digest]ocispec.Descriptor `json:",omitempty"`
}

type status int

const (
	missing  status = iota // the manifest itself is not in the archive (or store)
	partial                // an index some of whose platforms are missing
	complete               // everything reachable is present and checked
)

// builder turns staged files and metadata into images and records their tags in tx.
type builder struct {
	src    source
	tx     *store.Tx
	walked map[digest.Digest]status
	// byConfig maps a config digest to a complete manifest that uses it, so that
	// manifest.json entries of a Docker 25 archive reuse the OCI manifests beside them.
	byConfig map[digest.Digest]ocispec.Descriptor
	tagged   map[string]bool        // normalised refs already tagged
	listed   map[digest.Digest]bool // images already in loaded
	loaded   []Loaded
	notes    []string
	format   Format
}

func newBuilder(src source, tx *store.Tx) *builder {
	return &builder{src: src, tx: tx, walked: map[digest.Digest]status{}, byConfig: map[digest.Digest]ocispec.Descriptor{},
		tagged: map[string]bool{}, listed: map[digest.Digest]bool{}}
}

// build reads index.json and manifest.json (either or both) and tags every image they name.
func (b *builder) build(ctx context.Context) error {
	ixData, hasIndex, err := b.src.meta("index.json")
	if err != nil {
		return err
	}
	dmData, hasDocker, err := b.src.meta("manifest.json")
	if err != nil {
		return err
	}
	switch {
	case hasDocker && b.src.dir():
		b.format = FormatDockerDir
	case hasDocker:
		b.format = FormatDockerArchive
	case hasIndex && b.src.dir():
		b.format = FormatOCILayout
	case hasIndex:
		b.format = FormatOCIArchive
	default:
		if _, ok, _ := b.src.meta("repositories"); ok {
			return fmt.Errorf("%w: docker-archive without manifest.json (written before Docker 1.10) is not supported", ErrUnknownFormat)
		}
		return fmt.Errorf("%w: no manifest.json or index.json found", ErrUnknownFormat)
	}
	if hasIndex {
		if err := b.ociIndex(ctx, ixData, hasDocker); err != nil {
			return fmt.Errorf("index.json: %w", err)
		}
	}
	if hasDocker {
		if err := b.dockerManifest(ctx, dmData); err != nil {
			return fmt.Errorf("manifest.json: %w", err)
		}
	}
	if len(b.loaded) == 0 {
		return fmt.Errorf("%w: the archive names no image", ErrBadMetadata)
	}
	return nil
}

func (b *builder) ociIndex(ctx context.Context, data []byte, hasDocker bool) error {
	ix, err := oci.ParseIndex(data)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadMetadata, err)
	}
	for i, d := range ix.Manifests {
		where := fmt.Sprintf("manifest %d (%s)", i+1, d.Digest)
		st, err := b.walk(ctx, d)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		if sub, ok := d.Annotations[store.AnnotationArtifactSubject]; ok {
			// An artifact imgx (or the store's layout) wrote: kept linked to its subject.
			if st != complete {
				return fmt.Errorf("%s: %w: artifact incomplete in the archive", where, ErrMissingEntry)
			}
			a := store.Artifact{Subject: digest.Digest(sub), Kind: store.ArtifactKind(d.Annotations[store.AnnotationArtifactKind]),
				Desc: ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}}
			if err := b.tx.AddArtifact(a); err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
			continue
		}
		r, name, err := indexRef(d)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		target := d
		switch st {
		case missing:
			return fmt.Errorf("%s: %w: blob %s not in the archive", where, ErrMissingEntry, blobName(d.Digest))
		case partial:
			if hasDocker {
				// Docker 25 saves a multi-platform index with only the local platform's
				// blobs; manifest.json names that platform's image, which is loaded instead.
				b.notes = append(b.notes, fmt.Sprintf("index %s is incomplete in the archive; loaded the platform image manifest.json names", d.Digest))
				continue
			}
			target, err = b.pickPlatform(ctx, d)
			if err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
			id, err := b.imageID(ctx, target)
			if err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
			b.notes = append(b.notes, fmt.Sprintf("index %s is incomplete in the archive; loaded its %s image %s", d.Digest, platformString(target.Platform), store.ShortID(id)))
		}
		if r.IsZero() && name != "" {
			// Named by its image ID, as imgx images lists it.
			id, err := b.imageID(ctx, target)
			if err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
			b.notes = append(b.notes, fmt.Sprintf("image %s: ref.name %q is only a tag, not a name: loaded untagged", store.ShortID(id), name))
		}
		if err := b.tag(ctx, r, target); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
	}
	return nil
}

// indexRef reads the name of an index.json entry: io.containerd.image.name (full name), else
// org.opencontainers.image.ref.name when it is a name; a bare tag such as "latest" (as
// `skopeo copy … oci:DIR:latest` writes) names no repository and is returned as raw only.
func indexRef(d ocispec.Descriptor) (ref.Ref, string, error) {
	if v := d.Annotations[store.AnnotationFullName]; v != "" {
		r, err := ref.ParseNamed(v)
		if err != nil {
			return r, v, fmt.Errorf("%w: annotation %s: %w", ErrBadMetadata, store.AnnotationFullName, err)
		}
		return r, v, nil
	}
	v := d.Annotations[ocispec.AnnotationRefName]
	if v == "" || !strings.ContainsAny(v, ":/@") {
		return ref.Ref{}, v, nil
	}
	r, err := ref.ParseNamed(v)
	if err != nil {
		return ref.Ref{}, v, nil // not a reference: keep the image, untagged
	}
	return r, v, nil
}

// pickPlatform chooses the complete platform manifest of a partial index: this machine's
// platform if present, else the first complete one.
func (b *builder) pickPlatform(ctx context.Context, d ocispec.Descriptor) (ocispec.Descriptor, error) {
	data, err := b.readBlob(ctx, d)
	if err != nil {
		return d, err
	}
	ix, err := oci.ParseIndex(data)
	if err != nil {
		return d, err
	}
	var first *ocispec.Descriptor
	for i, m := range ix.Manifests {
		if b.walked[m.Digest] != complete || !oci.IsManifest(m.MediaType) {
			continue
		}
		if m.Platform != nil && m.Platform.OS == runtime.GOOS && m.Platform.Architecture == runtime.GOARCH {
			return m, nil
		}
		if first == nil {
			first = &ix.Manifests[i]
		}
	}
	if first == nil {
		return d, fmt.Errorf("%w: no platform of index %s is complete in the archive", ErrMissingEntry, d.Digest)
	}
	return *first, nil
}

func platformString(p *ocispec.Platform) string {
	if p == nil {
		return "unknown-platform"
	}
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

func blobName(d digest.Digest) string {
	return ocispec.ImageBlobsDir + "/" + d.Algorithm().String() + "/" + d.Encoded()
}

// walk checks desc and everything it reaches in the OCI part of the archive: each blob is
// present with the described size (its digest was checked while staging), manifests parse,
// and uncompressed layers match the config's diff_ids. A missing manifest is reported as
// status missing, an index with missing platforms as partial; any other problem is an error.
func (b *builder) walk(ctx context.Context, desc ocispec.Descriptor) (status, error) {
	if st, ok := b.walked[desc.Digest]; ok {
		return st, nil
	}
	if err := desc.Digest.Validate(); err != nil {
		return missing, fmt.Errorf("%w: descriptor digest %q: %w", ErrBadMetadata, desc.Digest, err)
	}
	if desc.Digest.Algorithm() != digest.SHA256 {
		return missing, fmt.Errorf("%w: digest %s: only sha256 is supported", ErrBadMetadata, desc.Digest)
	}
	ok, err := b.present(ctx, desc)
	if err != nil || !ok {
		return missing, err
	}
	st := complete
	switch {
	case oci.IsIndex(desc.MediaType):
		data, err := b.readBlob(ctx, desc)
		if err != nil {
			return missing, err
		}
		kids, err := oci.Children(desc.MediaType, data)
		if err != nil {
			return missing, fmt.Errorf("index %s: %w: %w", desc.Digest, ErrBadMetadata, err)
		}
		for i, k := range kids {
			kst, err := b.walk(ctx, k)
			if err != nil {
				return missing, fmt.Errorf("index %s: manifest %d: %w", desc.Digest, i+1, err)
			}
			if kst != complete {
				st = partial
			}
		}
	case oci.IsManifest(desc.MediaType):
		if err := b.manifest(ctx, desc); err != nil {
			return missing, fmt.Errorf("manifest %s: %w", desc.Digest, err)
		}
	}
	b.walked[desc.Digest] = st
	return st, nil
}

// present reports whether desc's blob is in the archive (with the right size) or already
// in the store.
func (b *builder) present(ctx context.Context, desc ocispec.Descriptor) (bool, error) {
	info, err := b.src.blob(ctx, blobName(desc.Digest))
	if errors.Is(err, ErrMissingEntry) {
		return b.tx.Has(desc.Digest), nil
	}
	if err != nil {
		return false, err
	}
	if info.Size != desc.Size {
		return false, fmt.Errorf("entry %s: %w: %d bytes, but the descriptor says %d", blobName(desc.Digest), ErrBadEntry, info.Size, desc.Size)
	}
	return true, nil
}

func (b *builder) manifest(ctx context.Context, desc ocispec.Descriptor) error {
	data, err := b.readBlob(ctx, desc)
	if err != nil {
		return err
	}
	if _, err := oci.Children(desc.MediaType, data); err != nil {
		return fmt.Errorf("%w: %w", ErrBadMetadata, err)
	}
	m, err := oci.ParseManifest(data)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadMetadata, err)
	}
	if ok, err := b.present(ctx, m.Config); err != nil || !ok {
		if err == nil {
			err = fmt.Errorf("%w: %s not in the archive", ErrMissingEntry, blobName(m.Config.Digest))
		}
		return fmt.Errorf("config: %w", err)
	}
	var diffIDs []digest.Digest
	if oci.IsImageConfig(m.Config.MediaType) {
		cfg, err := b.readBlob(ctx, m.Config)
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		if diffIDs, err = parseDiffIDs(cfg); err != nil {
			return fmt.Errorf("config %s: %w", m.Config.Digest, err)
		}
		if len(diffIDs) != len(m.Layers) {
			return fmt.Errorf("config %s: %w: %d diff_ids for %d layers", m.Config.Digest, ErrBadMetadata, len(diffIDs), len(m.Layers))
		}
	}
	for i, l := range m.Layers {
		if ok, err := b.present(ctx, l); err != nil || !ok {
			if err == nil {
				err = fmt.Errorf("%w: %s not in the archive", ErrMissingEntry, blobName(l.Digest))
			}
			return fmt.Errorf("layer %d: %w", i+1, err)
		}
		if diffIDs != nil && isUncompressedLayer(l.MediaType) && l.Digest != diffIDs[i] {
			return fmt.Errorf("layer %d: entry %s: %w: uncompressed layer digest %s does not match the config's diff_id %s",
				i+1, blobName(l.Digest), ErrBadEntry, l.Digest, diffIDs[i])
		}
	}
	if _, ok := b.byConfig[m.Config.Digest]; !ok {
		b.byConfig[m.Config.Digest] = ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size}
	}
	return nil
}

func isUncompressedLayer(mt string) bool {
	return mt == ocispec.MediaTypeImageLayer || mt == "application/vnd.docker.image.rootfs.diff.tar"
}

func parseDiffIDs(cfg []byte) ([]digest.Digest, error) {
	var c struct {
		RootFS *struct {
			Type    string          `json:"type"`
			DiffIDs []digest.Digest `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(cfg, &c); err != nil {
		return nil, fmt.Errorf("%w: parse config: %w", ErrBadMetadata, err)
	}
	if c.RootFS == nil {
		return nil, fmt.Errorf("%w: config has no rootfs", ErrBadMetadata)
	}
	for _, d := range c.RootFS.DiffIDs {
		if err := d.Validate(); err != nil {
			return nil, fmt.Errorf("%w: config diff_id %q: %w", ErrBadMetadata, d, err)
		}
	}
	if c.RootFS.DiffIDs == nil {
		return []digest.Digest{}, nil
	}
	return c.RootFS.DiffIDs, nil
}

// readBlob reads a staged or stored metadata blob.
func (b *builder) readBlob(ctx context.Context, desc ocispec.Descriptor) ([]byte, error) {
	if desc.Size > maxBlobMeta {
		return nil, fmt.Errorf("blob %s: %w: %d bytes is too large for metadata", desc.Digest, ErrTooLarge, desc.Size)
	}
	rc, err := b.tx.Open(ctx, desc.Digest)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxBlobMeta+1))
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", desc.Digest, err)
	}
	if int64(len(data)) != desc.Size || digest.FromBytes(data) != desc.Digest {
		return nil, fmt.Errorf("blob %s: %w: content changed in the store", desc.Digest, ErrBadEntry)
	}
	if err := jsonlimit.Check(data, maxJSONValues); err != nil {
		return nil, fmt.Errorf("blob %s: %w: %w", desc.Digest, ErrTooLarge, err)
	}
	return data, nil
}

func (b *builder) dockerManifest(ctx context.Context, data []byte) error {
	var entries []dockerEntry
	if err := json.Unmarshal(data, &entries); err != nil {
		return fmt.Errorf("%w: %w", ErrBadMetadata, err)
	}
	for i, e := range entries {
		where := fmt.Sprintf("image %d", i+1)
		if len(e.RepoTags) > 0 {
			where += " (" + e.RepoTags[0] + ")"
		}
		if err := b.dockerImage(ctx, e); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
	}
	return nil
}

func (b *builder) dockerImage(ctx context.Context, e dockerEntry) error {
	if e.Config == "" {
		return fmt.Errorf("%w: no Config", ErrBadMetadata)
	}
	ci, err := b.src.blob(ctx, e.Config)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	cfgDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: ci.Digest, Size: ci.Size}
	cfg, err := b.readBlob(ctx, cfgDesc)
	if err != nil {
		return fmt.Errorf("config %s: %w", e.Config, err)
	}
	diffIDs, err := parseDiffIDs(cfg)
	if err != nil {
		return fmt.Errorf("config %s: %w", e.Config, err)
	}
	if len(diffIDs) != len(e.Layers) {
		return fmt.Errorf("config %s: %w: %d diff_ids for %d layers", e.Config, ErrBadMetadata, len(diffIDs), len(e.Layers))
	}
	var tags []ref.Ref
	for _, t := range e.RepoTags {
		r, err := ref.ParseNamed(t)
		if err != nil {
			return fmt.Errorf("%w: RepoTags: %w", ErrBadMetadata, err)
		}
		tags = append(tags, r)
	}
	desc, ok := b.byConfig[ci.Digest]
	if !ok {
		// No OCI manifest in the archive for this config (a legacy docker save): make one.
		// The config bytes are kept as they are, so the image ID stays the same.
		m := ocispec.Manifest{
			Versioned: specs.Versioned{SchemaVersion: 2},
			MediaType: ocispec.MediaTypeImageManifest,
			Config:    cfgDesc,
			Layers:    []ocispec.Descriptor{},
		}
		for j, l := range e.Layers {
			ld, err := b.dockerLayer(ctx, l, diffIDs[j], e.LayerSources)
			if err != nil {
				return fmt.Errorf("layer %d: %w", j+1, err)
			}
			m.Layers = append(m.Layers, ld)
		}
		data, err := json.Marshal(m)
		if err != nil {
			return err
		}
		desc, err = b.tx.PutBytes(ctx, ocispec.MediaTypeImageManifest, data)
		if err != nil {
			return fmt.Errorf("store manifest: %w", err)
		}
		b.byConfig[ci.Digest] = desc
	}
	if len(tags) == 0 {
		return b.tag(ctx, ref.Ref{}, desc)
	}
	for _, r := range tags {
		if err := b.tag(ctx, r, desc); err != nil {
			return err
		}
	}
	return nil
}

// dockerLayer finds a manifest.json layer file and checks it against its diff_id. Docker
// and skopeo write uncompressed layers, whose digest is the diff_id; docker load also
// accepts gzip or zstd layer files, which are decompressed once more here to check them.
func (b *builder) dockerLayer(ctx context.Context, name string, diffID digest.Digest, foreign map[digest.Digest]ocispec.Descriptor) (ocispec.Descriptor, error) {
	li, err := b.src.blob(ctx, name)
	if errors.Is(err, ErrMissingEntry) {
		if _, ok := foreign[diffID]; ok {
			return ocispec.Descriptor{}, fmt.Errorf("%w: foreign layer %s is not in the archive and cannot be loaded", ErrMissingEntry, diffID)
		}
	}
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	d := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: li.Digest, Size: li.Size}
	if li.Digest == diffID {
		return d, nil
	}
	kind, got, err := b.uncompressedDigest(ctx, li.Digest)
	if err != nil {
		return d, fmt.Errorf("entry %s: %w", name, err)
	}
	switch kind {
	case compress.Gzip:
		d.MediaType = ocispec.MediaTypeImageLayerGzip
	case compress.Zstd:
		d.MediaType = ocispec.MediaTypeImageLayerZstd
	case compress.None:
		return d, fmt.Errorf("entry %s: %w: layer digest %s does not match the config's diff_id %s", name, ErrBadEntry, li.Digest, diffID)
	default:
		return d, fmt.Errorf("entry %s: %w: %s-compressed layers cannot be stored in an OCI image", name, ErrBadEntry, kind)
	}
	if got != diffID {
		return d, fmt.Errorf("entry %s: %w: uncompressed layer digest %s does not match the config's diff_id %s", name, ErrBadEntry, got, diffID)
	}
	return d, nil
}

func (b *builder) uncompressedDigest(ctx context.Context, d digest.Digest) (compress.Kind, digest.Digest, error) {
	rc, err := b.tx.Open(ctx, d)
	if err != nil {
		return compress.None, "", err
	}
	defer rc.Close()
	br := bufio.NewReaderSize(rc, 1<<20)
	kind, err := compress.Detect(br)
	if err != nil || kind == compress.None {
		return kind, "", err
	}
	zr, _, err := compress.NewReader(br, compress.Options{})
	if err != nil {
		return kind, "", err
	}
	defer zr.Close()
	h := sha256.New()
	if _, err := io.Copy(h, zr); err != nil {
		return kind, "", fmt.Errorf("decompress layer: %w", err)
	}
	return kind, digest.NewDigest(digest.SHA256, h), nil
}

// nameUntagged gives r to the archive's one untagged image (store.Tx.NameUntagged) and
// says so in the result.
func (b *builder) nameUntagged(r ref.Ref) error {
	if err := b.tx.NameUntagged(r); err != nil {
		return err
	}
	named := map[digest.Digest]bool{}
	for _, l := range b.loaded {
		if !l.Ref.IsZero() {
			named[l.Digest] = true
		}
	}
	for i, l := range b.loaded {
		if l.Ref.IsZero() && !named[l.Digest] {
			b.loaded[i].Ref, b.loaded[i].Name = r, r.Familiar()
		}
	}
	return nil
}

// imageID is desc's image ID: the config digest of a manifest, the digest of an index.
func (b *builder) imageID(ctx context.Context, desc ocispec.Descriptor) (digest.Digest, error) {
	if !oci.IsManifest(desc.MediaType) {
		return desc.Digest, nil
	}
	data, err := b.readBlob(ctx, desc)
	if err != nil {
		return "", err
	}
	m, err := oci.ParseManifest(data)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadMetadata, err)
	}
	return m.Config.Digest, nil
}

// tag records r -> desc (zero r: untagged) and the result line, once per name and image.
func (b *builder) tag(ctx context.Context, r ref.Ref, desc ocispec.Descriptor) error {
	desc = ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size, Platform: desc.Platform}
	if r.IsZero() {
		if b.listed[desc.Digest] {
			return nil
		}
	} else if b.tagged[r.String()] {
		return nil
	}
	id, err := b.imageID(ctx, desc)
	if err != nil {
		return err
	}
	b.tx.Tag(r, desc)
	l := Loaded{Ref: r, ID: id, Digest: desc.Digest, MediaType: desc.MediaType}
	if !r.IsZero() {
		b.tagged[r.String()] = true
		l.Name = r.Familiar()
	}
	b.listed[desc.Digest] = true
	b.loaded = append(b.loaded, l)
	return nil
}
