package bundle

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/image"
	"github.com/imgx/imgx/internal/digestio"
	"github.com/imgx/imgx/store"
)

// flatSource is where a save with [SaveOptions].Flatten reads blobs: the store for the
// images' own blobs, and for each flattened image its config and manifest (small, kept in
// memory) and its one layer, which is never written anywhere but into the bundle. Planning
// flattens once to learn the layer's digest and size; writing flattens again and streams
// the bytes into the bundle, checking that they hash the same (flattening is
// deterministic). Nothing reaches the store, so nothing is left behind, whatever
// interrupts the save.
type flatSource struct {
	s      *store.Store
	mem    map[digest.Digest][]byte
	layers map[digest.Digest]*image.Image // flattened layer → the image it flattens
}

func newFlatSource(s *store.Store) *flatSource {
	return &flatSource{s: s, mem: map[digest.Digest][]byte{}, layers: map[digest.Digest]*image.Image{}}
}

// flatten makes the one-layer image of desc (its platform p, for an index) and returns
// its manifest's descriptor.
func (f *flatSource) flatten(ctx context.Context, desc ocispec.Descriptor, p *ocispec.Platform) (ocispec.Descriptor, error) {
	im, err := image.Load(ctx, f.s, desc, p)
	if err != nil {
		return desc, err
	}
	sink := &hashSink{mem: f.mem}
	nd, err := image.Flatten(ctx, f.s, sink, im, image.FlattenOptions{})
	if err != nil {
		return desc, err
	}
	for _, l := range sink.streamed {
		f.layers[l.Digest] = im
	}
	return nd, nil
}

func (f *flatSource) Has(d digest.Digest) bool {
	_, inMem := f.mem[d]
	return inMem || f.layers[d] != nil || f.s.Has(d)
}

func (f *flatSource) ReadBlob(ctx context.Context, desc ocispec.Descriptor) ([]byte, error) {
	if b, ok := f.mem[desc.Digest]; ok {
		return b, nil
	}
	return f.s.ReadBlob(ctx, desc)
}

func (f *flatSource) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	if b, ok := f.mem[desc.Digest]; ok {
		return io.NopCloser(bytes.NewReader(b)), nil
	}
	im := f.layers[desc.Digest]
	if im == nil {
		return f.s.Fetch(ctx, desc)
	}
	pr, pw := io.Pipe()
	go func() {
		_, err := image.Flatten(ctx, f.s, &streamSink{w: pw}, im, image.FlattenOptions{})
		pw.CloseWithError(err)
	}()
	return &flatLayer{VerifyReader: digestio.NewDescriptorReader(pr, desc), pr: pr, desc: desc}, nil
}

// flatLayer reads a flattened layer made again, checked against the digest and size the
// first flattening gave; closing it early stops the flattening.
type flatLayer struct {
	*digestio.VerifyReader
	pr   *io.PipeReader
	desc ocispec.Descriptor
}

func (l *flatLayer) Read(p []byte) (int, error) {
	n, err := l.VerifyReader.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("flattened layer %s: %w", l.desc.Digest, err)
	}
	return n, err
}

func (l *flatLayer) Close() error { return l.pr.Close() }

// hashSink is the image.BlobWriter of the first flattening: small blobs (config,
// manifest) are kept, streamed ones (the layer) only hashed.
type hashSink struct {
	mem      map[digest.Digest][]byte
	streamed []ocispec.Descriptor
}

func (h *hashSink) Put(ctx context.Context, r io.Reader, want ocispec.Descriptor) (ocispec.Descriptor, error) {
	hw := digestio.NewHashingWriter(io.Discard, digest.SHA256)
	if _, err := io.Copy(hw, r); err != nil {
		return ocispec.Descriptor{}, err
	}
	d := ocispec.Descriptor{MediaType: want.MediaType, Digest: hw.Digest(), Size: hw.Size()}
	if (want.Digest != "" && want.Digest != d.Digest) || (want.Size >= 0 && want.Size != d.Size) {
		return d, fmt.Errorf("blob %s: %w", want.Digest, ErrDigest)
	}
	h.streamed = append(h.streamed, d)
	return d, nil
}

func (h *hashSink) PutBytes(ctx context.Context, mediaType string, data []byte) (ocispec.Descriptor, error) {
	d := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
	h.mem[d.Digest] = data
	return d, nil
}

// streamSink is the image.BlobWriter of the second flattening: the layer goes to w, the
// rest (already known) nowhere.
type streamSink struct{ w io.Writer }

func (s *streamSink) Put(ctx context.Context, r io.Reader, want ocispec.Descriptor) (ocispec.Descriptor, error) {
	hw := digestio.NewHashingWriter(s.w, digest.SHA256)
	if _, err := io.Copy(hw, r); err != nil {
		return ocispec.Descriptor{}, err
	}
	return ocispec.Descriptor{MediaType: want.MediaType, Digest: hw.Digest(), Size: hw.Size()}, nil
}

func (s *streamSink) PutBytes(ctx context.Context, mediaType string, data []byte) (ocispec.Descriptor, error) {
	return ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}, nil
}

// ArtifactsOf has none for a flattened image (its source's signatures name another
// digest); other images' are the store's.
func (f *flatSource) ArtifactsOf(ctx context.Context, subject ocispec.Descriptor) ([]store.Artifact, error) {
	if _, made := f.mem[subject.Digest]; made {
		return nil, nil
	}
	return f.s.ArtifactsOf(ctx, subject)
}
