package archive

import (
	"archive/tar"
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/image"
	"github.com/imgx/imgx/oci"
	"github.com/imgx/imgx/progress"
	"github.com/imgx/imgx/store"
)

// SaveOptions tune [Save].
type SaveOptions struct {
	// Format is FormatDockerArchive or FormatOCIArchive.
	Format Format
	// Platform chooses, for a docker-archive, which platform of a multi-platform image
	// manifest.json names (docker load reads one image per entry). Default: this
	// machine's platform if the index has it, else its first image. The whole index is
	// still written to index.json.
	Platform *ocispec.Platform
	// Progress counts bytes written; its total is set to the expected size up front.
	Progress progress.Progress
	// ExcludeExtras leaves out the artifacts (signatures, attestations, SBOMs) attached to
	// the images. An oci-archive carries them by default, as index.json entries annotated
	// the way the store records them (store.Artifact); a docker-archive never does.
	ExcludeExtras bool
}

// SaveResult describes what [Save] wrote.
type SaveResult struct {
	Images int   `json:"images"` // index.json entries
	Blobs  int   `json:"blobs"`  // distinct blobs, each written once
	Bytes  int64 `json:"bytes"`  // bytes of the archive
}

// Save writes images from s to w as one archive. Blobs that several images share are
// written once. Metadata comes first, then manifests and configs, then layers, each
// blob read back from the store and verified as it streams.
func Save(ctx context.Context, s *store.Store, w io.Writer, images []store.Resolved, opts SaveOptions) (*SaveResult, error) {
	if opts.Format != FormatDockerArchive && opts.Format != FormatOCIArchive {
		return nil, fmt.Errorf("save: format %q: %w: want %s or %s", opts.Format, ErrUnknownFormat, FormatDockerArchive, FormatOCIArchive)
	}
	if len(images) == 0 {
		return nil, errors.New("save: no image given")
	}
	p := newPlan(s)
	for _, im := range images {
		if err := p.add(ctx, im, opts); err != nil {
			name := im.Desc.Digest.String()
			if !im.Ref.IsZero() {
				name = im.Ref.Familiar()
			}
			return nil, fmt.Errorf("save %s: %w", name, err)
		}
	}
	p.blobs = append(append([]ocispec.Descriptor{}, p.meta...), p.layers...)
	pr := progress.OrNoop(opts.Progress)
	cw := &progress.CountWriter{W: progress.Writer(w, pr)}
	bw := bufio.NewWriterSize(cw, 1<<20)
	tw := tar.NewWriter(bw)

	layout, _ := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	ix := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: p.index}
	ix.SchemaVersion = 2
	ixData, err := json.Marshal(ix)
	if err != nil {
		return nil, err
	}
	files := []struct {
		name string
		data []byte
	}{{ocispec.ImageLayoutFile, layout}, {"index.json", ixData}}
	if opts.Format == FormatDockerArchive {
		dm, err := json.Marshal(p.docker)
		if err != nil {
			return nil, err
		}
		repos, err := json.Marshal(p.repos)
		if err != nil {
			return nil, err
		}
		files = append(files, struct {
			name string
			data []byte
		}{"manifest.json", dm}, struct {
			name string
			data []byte
		}{"repositories", repos})
	}
	var total int64
	for _, b := range p.blobs {
		total += b.Size + 1024
	}
	pr.SetTotal(total)
	for _, f := range files {
		if err := writeFile(tw, f.name, f.data); err != nil {
			return nil, fmt.Errorf("save: write %s: %w", f.name, err)
		}
	}
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: epoch}); err != nil {
			return nil, fmt.Errorf("save: %w", err)
		}
	}
	buf := make([]byte, 1<<20)
	for _, b := range p.blobs {
		if err := copyBlob(ctx, s, tw, b, buf); err != nil {
			return nil, fmt.Errorf("save: blob %s: %w", b.Digest, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("save: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("save: %w", err)
	}
	nImages := 0
	for _, d := range p.index {
		if _, art := d.Annotations[store.AnnotationArtifactSubject]; !art {
			nImages++
		}
	}
	return &SaveResult{Images: nImages, Blobs: len(p.blobs), Bytes: cw.N}, nil
}

var epoch = time.Unix(0, 0)

func writeFile(tw *tar.Writer, name string, data []byte) error {
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: int64(len(data)), Mode: 0o644, ModTime: epoch}); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}

func copyBlob(ctx context.Context, s *store.Store, tw *tar.Writer, d ocispec.Descriptor, buf []byte) error {
	rc, err := s.Fetch(ctx, d)
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: blobName(d.Digest), Size: d.Size, Mode: 0o644, ModTime: epoch}); err != nil {
		return err
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, rerr := rc.Read(buf)
		if n > 0 {
			if _, err := tw.Write(buf[:n]); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// plan collects, before anything is written, the blobs and metadata of an archive.
type plan struct {
	s      *store.Store
	seen   map[digest.Digest]bool
	meta   []ocispec.Descriptor // manifests, indexes, configs
	layers []ocispec.Descriptor
	blobs  []ocispec.Descriptor // meta then layers
	index  []ocispec.Descriptor
	docker []dockerEntry
	byMan  map[digest.Digest]int // manifest digest -> docker entry
	repos  map[string]map[string]string
	named  map[string]bool // index.json entries already written, by tag or digest
}

func newPlan(s *store.Store) *plan {
	return &plan{s: s, seen: map[digest.Digest]bool{}, byMan: map[digest.Digest]int{}, repos: map[string]map[string]string{}, named: map[string]bool{}, docker: []dockerEntry{}}
}

func (p *plan) add(ctx context.Context, im store.Resolved, opts SaveOptions) error {
	desc := ocispec.Descriptor{MediaType: im.Desc.MediaType, Digest: im.Desc.Digest, Size: im.Desc.Size, Platform: im.Desc.Platform}
	if opts.Platform != nil && oci.IsManifest(desc.MediaType) {
		// A single-platform image must be the platform asked for (image.ErrPlatform),
		// never written as if it were.
		if _, err := image.Load(ctx, p.s, desc, opts.Platform); err != nil {
			return err
		}
	}
	if err := p.walk(ctx, desc); err != nil {
		return err
	}
	key := desc.Digest.String()
	if !im.Ref.IsZero() {
		key = im.Ref.String()
		desc.Annotations = map[string]string{
			ocispec.AnnotationRefName: im.Ref.Familiar(),
			store.AnnotationFullName:  im.Ref.String(),
		}
	}
	if !p.named[key] {
		p.named[key] = true
		p.index = append(p.index, desc)
	}
	if opts.Format != FormatDockerArchive {
		if opts.ExcludeExtras {
			return nil
		}
		arts, err := p.s.ArtifactsOf(ctx, desc)
		if err != nil {
			return fmt.Errorf("artifacts: %w", err)
		}
		for _, a := range arts {
			d := ocispec.Descriptor{MediaType: a.Desc.MediaType, Digest: a.Desc.Digest, Size: a.Desc.Size}
			if err := p.walk(ctx, d); err != nil {
				return fmt.Errorf("%s %s: %w", a.Kind, a.Desc.Digest, err)
			}
			if k := "artifact " + a.Subject.String() + " " + d.Digest.String(); !p.named[k] {
				p.named[k] = true
				d.Annotations = map[string]string{store.AnnotationArtifactSubject: a.Subject.String(), store.AnnotationArtifactKind: string(a.Kind)}
				p.index = append(p.index, d)
			}
		}
		return nil
	}
	// The one image a docker-archive entry describes: desc itself, or the platform's
	// image of an index, chosen as everywhere else (image.Load).
	img, err := image.Load(ctx, p.s, desc, opts.Platform)
	if errors.Is(err, image.ErrNotImage) {
		return fmt.Errorf("%w: docker-archive cannot hold it (use oci-archive)", err)
	}
	if err != nil {
		return err
	}
	man, m := img.Desc, img.Manifest
	i, ok := p.byMan[man.Digest]
	if !ok {
		e := dockerEntry{Config: blobName(m.Config.Digest), RepoTags: []string{}, Layers: []string{}}
		for _, l := range m.Layers {
			e.Layers = append(e.Layers, blobName(l.Digest))
		}
		p.docker = append(p.docker, e)
		i = len(p.docker) - 1
		p.byMan[man.Digest] = i
	}
	if !im.Ref.IsZero() {
		t := im.Ref.Familiar()
		for _, have := range p.docker[i].RepoTags {
			if have == t {
				return nil
			}
		}
		p.docker[i].RepoTags = append(p.docker[i].RepoTags, t)
		repo := im.Ref.FamiliarName()
		if p.repos[repo] == nil {
			p.repos[repo] = map[string]string{}
		}
		p.repos[repo][im.Ref.Tag()] = m.Config.Digest.Encoded()
	}
	return nil
}

// walk adds what d reaches to the plan through the store's one graph walker
// (store.Walk): manifests, indexes and configs to meta, layers to layers, each blob once
// across all the images saved.
func (p *plan) walk(ctx context.Context, d ocispec.Descriptor) error {
	configs := map[digest.Digest]bool{}
	return p.s.Walk(ctx, []ocispec.Descriptor{d}, func(k ocispec.Descriptor) error {
		if p.seen[k.Digest] {
			return store.SkipChildren
		}
		p.seen[k.Digest] = true
		k = ocispec.Descriptor{MediaType: k.MediaType, Digest: k.Digest, Size: k.Size}
		switch {
		case oci.IsManifest(k.MediaType):
			data, err := p.s.ReadBlob(ctx, k)
			if err != nil {
				return err
			}
			m, err := oci.ParseManifest(data)
			if err != nil {
				return fmt.Errorf("blob %s: %w", k.Digest, err)
			}
			configs[m.Config.Digest] = true
			p.meta = append(p.meta, k)
		case oci.IsIndex(k.MediaType), configs[k.Digest]:
			p.meta = append(p.meta, k)
		default:
			p.layers = append(p.layers, k)
		}
		return nil
	})
}
