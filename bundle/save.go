package bundle

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/image"
	"github.com/imgx/imgx/internal/jsonlimit"
	"github.com/imgx/imgx/oci"
	"github.com/imgx/imgx/progress"
	"github.com/imgx/imgx/ref"
	"github.com/imgx/imgx/store"
	"github.com/imgx/imgx/verify"
)

// SaveOptions tune [Save]. The zero value writes a zstd bundle at the default level,
// unsigned, with every blob.
type SaveOptions struct {
	Compression Compression // Zstd (default) or None
	Level       Level       // for compressible entries
	Workers     int         // parallel zstd encoders; 0: min(GOMAXPROCS, 4)

	// Signers sign the bundle manifest; each adds one signature file.
	Signers []crypto.Signer

	// Since makes a delta bundle: blobs the base carried are left out and listed as
	// expected. See [ReadBase].
	Since *Base
	// LayerRecipes (with Since, without Flatten) ships a new layer as a recipe over the
	// same image's previous layer at the same position when the receiver holds that one,
	// the layer's compressor is reproduced exactly and the recipe is under half the layer
	// (package layerdelta); the bundle is then format 2.0. [SaveResult].Layers says
	// what was decided for each layer and why.
	LayerRecipes bool
	// TempDir holds recipe work files during the save ("" = the system's).
	TempDir string

	// Platform selects one platform from multi-platform images; nil keeps the index.
	Platform *ocispec.Platform

	// ExcludeExtras leaves out the artifacts (signatures, attestations, SBOMs) attached
	// to the images in the store; by default they are carried (Manifest.Artifacts).
	ExcludeExtras bool

	// Flatten writes each image (the Platform of an index) as a one-layer image made by
	// image.Flatten, keeping its creation time, and names the source in
	// [Image].FlattenedFrom. The flattened image is written only into the bundle, never
	// into the store, which stays as it was whatever interrupts the save (each flattened
	// layer is made twice: once to learn its digest for the manifest, once to write it).
	Flatten bool

	// Progress is told the total blob bytes and the bytes written; the caller ends it
	// (Done).
	Progress progress.Progress
	// Now gives the bundle's creation time. By default it is the creation time of the
	// newest image in it, which makes a bundle a pure function of its images, key and
	// base: a re-run writes the same bytes, so an interrupted upload resumes. If no image
	// has a creation time it is SourceDateEpoch when set, else the Unix epoch: never
	// the wall clock, which would break that.
	Now func() time.Time
	// SourceDateEpoch is the reproducible-builds SOURCE_DATE_EPOCH (seconds since the
	// epoch, as a string), the creation time of a bundle whose images carry none; "" means
	// the Unix epoch. A malformed value is an error. The library reads no environment:
	// the CLI passes $SOURCE_DATE_EPOCH.
	SourceDateEpoch string

	// BeforeWrite, when set, is called with the manifest bytes and the signature
	// documents (sorted by entry name) once they are final, before the first byte is
	// written; an error aborts the save. An encrypted save binds its resume record to
	// them (package seal).
	BeforeWrite func(manifest []byte, signatures [][]byte) error
}

// SaveResult describes a written bundle.
type SaveResult struct {
	Manifest       *Manifest
	ManifestDigest digest.Digest // the bundle's identity
	Signers        []string      // key IDs, sha256:<hex>
	Written        int64         // bytes written to w
	// Layers (with LayerRecipes) is the decision for each new layer: recipe or whole,
	// with the reason.
	Layers []LayerDecision
}

// Save writes the images named by refs (tags, digests or ID prefixes, as [store.Store.Resolve]
// takes them) from s to w as one bundle.
func Save(ctx context.Context, s *store.Store, refs []string, w io.Writer, opts SaveOptions) (*SaveResult, error) {
	var images []store.Resolved
	for _, in := range refs {
		r, err := s.Resolve(ctx, in)
		if err != nil {
			return nil, err
		}
		images = append(images, r)
	}
	return SaveImages(ctx, s, images, w, opts)
}

// SaveImages is [Save] for images already resolved. An image resolved by digest (zero
// Ref) is carried untagged.
func SaveImages(ctx context.Context, s *store.Store, images []store.Resolved, w io.Writer, opts SaveOptions) (*SaveResult, error) {
	if len(images) == 0 {
		return nil, fmt.Errorf("save: no images named")
	}
	level, err := opts.Level.encoderLevel()
	if err != nil {
		return nil, err
	}
	if opts.Compression != "" && opts.Compression != Zstd && opts.Compression != None {
		return nil, fmt.Errorf("compression %q: want zstd or none", string(opts.Compression))
	}
	var src source = s
	if opts.Flatten {
		src = newFlatSource(s)
	}
	p, err := plan(ctx, src, images, opts)
	if err != nil {
		return nil, err
	}
	m := p.manifest
	var decisions []LayerDecision
	if opts.LayerRecipes && opts.Since != nil && !opts.Flatten {
		tmp, err := os.MkdirTemp(opts.TempDir, "imgx-recipes-")
		if err != nil {
			return nil, fmt.Errorf("save: %w", err)
		}
		defer os.RemoveAll(tmp)
		var files map[digest.Digest]string
		decisions, files, err = planRecipes(ctx, s, m, opts.Since, tmp)
		if err != nil {
			return nil, fmt.Errorf("save: layer recipes: %w", err)
		}
		for d := range files {
			p.layers[d] = true // already compressed: stored raw
		}
		src = recipeSource{source: src, files: files}
	}
	m.Created = p.newest
	switch {
	case opts.Now != nil:
		m.Created = opts.Now()
	case m.Created.IsZero():
		if m.Created, err = sourceDateEpoch(opts.SourceDateEpoch); err != nil {
			return nil, fmt.Errorf("save: %w", err)
		}
	}
	m.Created = m.Created.UTC().Truncate(time.Second)
	mbytes, err := m.Marshal()
	if err != nil {
		return nil, err
	}
	if len(mbytes) > maxManifestSize {
		return nil, fmt.Errorf("save: the bundle manifest would be %d bytes, more than the %d a loader reads: save fewer images per bundle", len(mbytes), maxManifestSize)
	}
	if err := jsonlimit.Check(mbytes, maxJSONValues); err != nil {
		return nil, fmt.Errorf("save: the bundle manifest: %w: save fewer images per bundle", err)
	}
	res := &SaveResult{Manifest: m, ManifestDigest: digest.FromBytes(mbytes), Layers: decisions}
	sigs := map[string][]byte{}
	for _, sg := range opts.Signers {
		sig, err := verify.Sign(ctx, sg, mbytes)
		if err != nil {
			return nil, fmt.Errorf("sign bundle: %w", err)
		}
		name, id, err := signatureName(sig)
		if err != nil {
			return nil, err
		}
		if _, dup := sigs[name]; !dup {
			res.Signers = append(res.Signers, id)
		}
		sigs[name] = sig
	}

	if opts.BeforeWrite != nil {
		names := make([]string, 0, len(sigs))
		for n := range sigs {
			names = append(names, n)
		}
		sort.Strings(names)
		docs := make([][]byte, len(names))
		for i, n := range names {
			docs[i] = sigs[n]
		}
		if err := opts.BeforeWrite(mbytes, docs); err != nil {
			return nil, fmt.Errorf("save: %w", err)
		}
	}
	cw := &progress.CountWriter{W: w}
	var sw segmentWriter = plainWriter{cw}
	if opts.Compression != None {
		sw = newFrameWriter(cw, level, opts.Workers)
	}
	werr := writeBundle(ctx, src, sw, m, mbytes, sigs, p, opts.Progress)
	if cerr := sw.Close(); werr == nil {
		werr = cerr
	}
	res.Written = cw.N
	if werr != nil {
		return nil, fmt.Errorf("save: %w", werr)
	}
	return res, nil
}

// signatureName returns the archive name for a signature, from its key hint.
func signatureName(sig []byte) (name, keyID string, err error) {
	ps, err := verify.ParseSignature(sig)
	if err != nil {
		return "", "", err
	}
	id := ps.KeyID()
	if !strings.HasPrefix(id, "sha256:") || digest.Digest(id).Validate() != nil {
		return "", "", fmt.Errorf("signature has no usable key hint")
	}
	return signaturesDir + strings.TrimPrefix(id, "sha256:") + signatureExt, id, nil
}

// savePlan is everything decided before the first byte is written.
type savePlan struct {
	manifest *Manifest
	files    [][]byte // oci-layout, index.json, manifest.json
	layers   map[digest.Digest]bool
	newest   time.Time // creation time of the newest image config
}

// source is where a save reads blobs: the store, or, when flattening, a flatSource that
// also makes the flattened images.
type source interface {
	image.Fetcher
	Has(d digest.Digest) bool
	ReadBlob(ctx context.Context, desc ocispec.Descriptor) ([]byte, error)
	ArtifactsOf(ctx context.Context, subject ocispec.Descriptor) ([]store.Artifact, error)
}

func plan(ctx context.Context, s source, images []store.Resolved, opts SaveOptions) (*savePlan, error) {
	m := &Manifest{MediaType: MediaType, FormatVersion: FormatVersion}
	meta := map[digest.Digest][]byte{}
	var metaTotal int64
	readMeta := func(d ocispec.Descriptor) ([]byte, error) {
		if b, ok := meta[d.Digest]; ok {
			return b, nil
		}
		if d.Size > maxMetaBlob || metaTotal+d.Size > maxMetaTotal {
			return nil, fmt.Errorf("blob %s (%s): %d bytes is too large for metadata", d.Digest, d.MediaType, d.Size)
		}
		b, err := s.ReadBlob(ctx, d)
		if err != nil {
			return nil, err
		}
		if err := jsonlimit.Check(b, maxJSONValues); err != nil {
			return nil, fmt.Errorf("blob %s (%s): %w: a loader would refuse it", d.Digest, d.MediaType, err)
		}
		meta[d.Digest] = b
		metaTotal += d.Size
		return b, nil
	}

	for _, r := range images {
		in := r.Desc.Digest.String()
		if !r.Ref.IsZero() {
			in = r.Ref.Familiar()
		}
		desc := r.Desc
		if opts.Platform != nil {
			// The platform's manifest from an index; a single-platform image must be
			// that platform (image.ErrPlatform otherwise), never shipped as another.
			pim, err := image.Load(ctx, s, desc, opts.Platform)
			if err != nil {
				return nil, fmt.Errorf("image %s: %w", in, err)
			}
			desc = pim.Desc
		}
		im := Image{Descriptor: ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size}}
		if fs, ok := s.(*flatSource); ok && opts.Flatten {
			nd, err := fs.flatten(ctx, im.Descriptor, opts.Platform)
			if err != nil {
				return nil, fmt.Errorf("flatten %s: %w", in, err)
			}
			im.FlattenedFrom = im.Descriptor.Digest
			im.Descriptor = ocispec.Descriptor{MediaType: nd.MediaType, Digest: nd.Digest, Size: nd.Size}
		}
		if !r.Ref.IsZero() {
			im.Name, im.Ref = r.Ref.Familiar(), r.Ref.String()
		}
		m.Images = append(m.Images, im)
	}

	// Walk every image: indexes and manifests (parents first), then configs, then layers.
	var heads, configs, layers []ocispec.Descriptor
	seen := map[digest.Digest]bool{}
	isLayer := map[digest.Digest]bool{}
	var newest time.Time
	var walk func(d ocispec.Descriptor) error
	walk = func(d ocispec.Descriptor) error {
		if seen[d.Digest] {
			return nil
		}
		seen[d.Digest] = true
		d = ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}
		if !oci.IsIndex(d.MediaType) && !oci.IsManifest(d.MediaType) {
			return fmt.Errorf("blob %s: media type %s is not an image manifest or index", d.Digest, d.MediaType)
		}
		heads = append(heads, d)
		b, err := readMeta(d)
		if err != nil {
			return err
		}
		if oci.IsIndex(d.MediaType) {
			ix, err := oci.ParseIndex(b)
			if err != nil {
				return fmt.Errorf("index %s: %w", d.Digest, err)
			}
			for _, c := range ix.Manifests {
				if err := walk(c); err != nil {
					return err
				}
			}
			return nil
		}
		mf, err := oci.ParseManifest(b)
		if err != nil {
			return fmt.Errorf("manifest %s: %w", d.Digest, err)
		}
		if !seen[mf.Config.Digest] {
			seen[mf.Config.Digest] = true
			configs = append(configs, ocispec.Descriptor{MediaType: mf.Config.MediaType, Digest: mf.Config.Digest, Size: mf.Config.Size})
			if cb, err := readMeta(mf.Config); err == nil {
				var c struct {
					Created time.Time `json:"created"`
				}
				if json.Unmarshal(cb, &c) == nil && c.Created.After(newest) {
					newest = c.Created
				}
			}
		}
		for _, l := range mf.Layers {
			if !seen[l.Digest] {
				seen[l.Digest] = true
				isLayer[l.Digest] = true
				layers = append(layers, ocispec.Descriptor{MediaType: l.MediaType, Digest: l.Digest, Size: l.Size})
			}
		}
		return nil
	}
	for _, im := range m.Images {
		if err := walk(im.Descriptor); err != nil {
			if im.Name != "" {
				return nil, fmt.Errorf("image %s: %w", im.Name, err)
			}
			return nil, fmt.Errorf("image %s: %w", im.Descriptor.Digest, err)
		}
	}
	// The artifacts attached to what is shipped (not to a flattened image's source, nor to
	// the index a platform was picked from: their signatures name other digests).
	if !opts.ExcludeExtras {
		have := map[[2]digest.Digest]bool{}
		for _, im := range m.Images {
			arts, err := s.ArtifactsOf(ctx, im.Descriptor)
			if err != nil {
				return nil, fmt.Errorf("image %s: artifacts: %w", imageName(im), err)
			}
			for _, a := range arts {
				k := [2]digest.Digest{a.Subject, a.Desc.Digest}
				if have[k] {
					continue
				}
				have[k] = true
				d := ocispec.Descriptor{MediaType: a.Desc.MediaType, Digest: a.Desc.Digest, Size: a.Desc.Size}
				if err := walk(d); err != nil {
					return nil, fmt.Errorf("image %s: %s %s: %w", imageName(im), a.Kind, a.Desc.Digest, err)
				}
				m.Artifacts = append(m.Artifacts, Artifact{Subject: a.Subject, Kind: a.Kind, Descriptor: d})
			}
		}
		if len(m.Artifacts) > 0 {
			m.FormatVersion = FormatVersionArtifacts
		}
	}
	all := append(append(heads, configs...), layers...)
	for _, d := range all {
		if !s.Has(d.Digest) {
			return nil, fmt.Errorf("blob %s (%s): %w", d.Digest, d.MediaType, store.ErrNotFound)
		}
		if opts.Since != nil && isLayer[d.Digest] && opts.Since.Carried[d.Digest] {
			m.Expects = append(m.Expects, d)
		} else {
			m.Blobs = append(m.Blobs, d)
		}
	}
	if m.Blobs == nil {
		m.Blobs = []ocispec.Descriptor{}
	}
	if opts.Since != nil {
		b := opts.Since.Ref
		m.Base = &b
		m.Sequence = b.Sequence + 1
	}

	files, err := layoutFiles(m, meta, opts.Platform)
	if err != nil {
		return nil, err
	}
	names := []string{"oci-layout", "index.json", dockerManifest}
	for i, f := range files {
		m.Files = append(m.Files, File{Name: names[i], Digest: digest.FromBytes(f), Size: int64(len(f))})
	}
	return &savePlan{manifest: m, files: files, layers: isLayer, newest: newest}, nil
}

// layoutFiles builds oci-layout, index.json and the Docker manifest.json.
func layoutFiles(m *Manifest, meta map[digest.Digest][]byte, platform *ocispec.Platform) ([][]byte, error) {
	layout, _ := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	ix := ocispec.Index{Versioned: versioned2, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{}}
	type dockerEntry struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	docker := []dockerEntry{}
	dockerIdx := map[digest.Digest]int{}
	for _, im := range m.Images {
		d := im.Descriptor
		if im.Ref != "" {
			d.Annotations = map[string]string{store.AnnotationRefName: im.Name, store.AnnotationFullName: im.Ref}
		}
		ix.Manifests = append(ix.Manifests, d)

		md := im.Descriptor
		if oci.IsIndex(md.MediaType) {
			p := ocispec.Platform{OS: "linux", Architecture: "amd64"}
			if platform != nil {
				p = *platform
			}
			parsed, err := oci.ParseIndex(meta[md.Digest])
			if err != nil || len(parsed.Manifests) == 0 {
				continue
			}
			c, err := image.SelectPlatform(parsed, &p)
			if err != nil {
				c = parsed.Manifests[0]
			}
			if _, ok := meta[c.Digest]; !ok || !oci.IsManifest(c.MediaType) {
				continue
			}
			md = c
		}
		mf, err := oci.ParseManifest(meta[md.Digest])
		if err != nil || !oci.IsImageConfig(mf.Config.MediaType) {
			continue // an artifact, not an image docker can load
		}
		i, ok := dockerIdx[md.Digest]
		if !ok {
			e := dockerEntry{Config: blobPath(mf.Config.Digest), RepoTags: []string{}}
			for _, l := range mf.Layers {
				e.Layers = append(e.Layers, blobPath(l.Digest))
			}
			docker = append(docker, e)
			i = len(docker) - 1
			dockerIdx[md.Digest] = i
		}
		if im.Ref != "" {
			if r, err := ref.Parse(im.Ref); err == nil && r.Tag() != "" {
				docker[i].RepoTags = append(docker[i].RepoTags, r.Familiar())
			}
		}
	}
	// Artifacts as the store records them (store.Artifact): entries without a tag name,
	// annotated with their subject and kind; skopeo and umoci pass over them.
	for _, a := range m.Artifacts {
		ix.Manifests = append(ix.Manifests, ocispec.Descriptor{MediaType: a.Descriptor.MediaType, Digest: a.Descriptor.Digest, Size: a.Descriptor.Size,
			Annotations: map[string]string{store.AnnotationArtifactSubject: a.Subject.String(), store.AnnotationArtifactKind: string(a.Kind)}})
	}
	ixb, err := json.Marshal(ix)
	if err != nil {
		return nil, err
	}
	db, err := json.Marshal(docker)
	if err != nil {
		return nil, err
	}
	return [][]byte{layout, ixb, db}, nil
}

func blobPath(d digest.Digest) string { return blobsPrefix + d.Encoded() }

// alreadyCompressed reports whether a blob of this media type is compressed data that
// zstd cannot shrink.
func alreadyCompressed(mt string) bool {
	return strings.HasSuffix(mt, "gzip") || strings.HasSuffix(mt, "zstd") || strings.HasSuffix(mt, "+gzip") ||
		mt == oci.DockerLayer || mt == oci.DockerLayerForeign
}

func writeBundle(ctx context.Context, s source, sw segmentWriter, m *Manifest, mbytes []byte,
	sigs map[string][]byte, p *savePlan, prog progress.Progress) error {
	// The tar stream is written here, not through a tar.Writer, so that a blob's bytes go
	// from the file straight into the frame that carries them (sw.ReadFrom): archive/tar
	// would copy them through a 32 KiB buffer. The headers are archive/tar's own.
	mtime := m.Created
	entry := func(name string, size int64, body func() (int64, error)) error {
		var hb bytes.Buffer
		tw := tar.NewWriter(&hb)
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, ModTime: mtime, Typeflag: tar.TypeReg}); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
		if _, err := sw.Write(hb.Bytes()); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
		n, err := body()
		if err == nil && n != size {
			err = fmt.Errorf("%d bytes, want %d", n, size)
		}
		if err == nil {
			_, err = sw.Write(zeroBlocks[:-size&(blockSize-1)])
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
		return nil
	}
	put := func(name string, size int64, r io.Reader) error {
		return entry(name, size, func() (int64, error) { return io.Copy(sw, r) })
	}
	if err := writeHead(nil, put, mbytes, sigs); err != nil {
		return err
	}
	if err := sw.Cut(modeCompress); err != nil {
		return err
	}
	names := []string{"oci-layout", "index.json", dockerManifest}
	for i, f := range p.files {
		if err := put(names[i], int64(len(f)), bytes.NewReader(f)); err != nil {
			return err
		}
	}
	prog = progress.OrNoop(prog)
	prog.SetTotal(m.TotalSize())
	for _, d := range m.Blobs {
		if err := ctx.Err(); err != nil {
			return err
		}
		mode := modeCompress
		if p.layers[d.Digest] && alreadyCompressed(d.MediaType) {
			mode = modeRaw
		}
		if err := sw.Cut(mode); err != nil {
			return err
		}
		rc, err := s.Fetch(ctx, d)
		if err != nil {
			return err
		}
		// A blob longer than its descriptor is an error of the store's verifying reader
		// (and of entry's count, for other sources).
		err = entry(blobPath(d.Digest), d.Size, func() (int64, error) {
			return sw.ReadFrom(progress.Reader(rc, prog))
		})
		rc.Close()
		if err != nil {
			return err
		}
	}
	if err := sw.Cut(modeCompress); err != nil {
		return err
	}
	// The end of the archive: two zero blocks, as tar.Writer.Close writes them.
	_, err := sw.Write(zeroBlocks[:])
	return err
}

const blockSize = 512

var zeroBlocks [2 * blockSize]byte

// writeHead writes the manifest and the signatures, sorted by name.
func writeHead(tw *tar.Writer, put func(string, int64, io.Reader) error, mbytes []byte, sigs map[string][]byte) error {
	if err := put(ManifestName, int64(len(mbytes)), bytes.NewReader(mbytes)); err != nil {
		return err
	}
	names := make([]string, 0, len(sigs))
	for n := range sigs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := put(n, int64(len(sigs[n])), bytes.NewReader(sigs[n])); err != nil {
			return err
		}
	}
	return nil
}

var versioned2 = specsVersioned()

// sourceDateEpoch is the creation time of a bundle whose images carry none: the
// reproducible-builds SOURCE_DATE_EPOCH v (seconds since the epoch) when set, else the
// epoch itself. A malformed value is an error, as that convention asks.
func sourceDateEpoch(v string) (time.Time, error) {
	if v == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	sec, err := strconv.ParseInt(v, 10, 64)
	if err != nil || sec < 0 || sec > 253402300799 { // year 9999: JSON time's limit
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: want a non-negative integer number of seconds since 1970-01-01", v)
	}
	return time.Unix(sec, 0).UTC(), nil
}
