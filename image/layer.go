package image

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/store"
)

// Compression selects how imgx stores the layers it creates.
type Compression string

const (
	Gzip         Compression = "gzip" // what docker and every registry accept; the default
	Zstd         Compression = "zstd" // smaller and faster, needs OCI-1.1-aware consumers
	Uncompressed Compression = "none"
)

// ParseCompression checks a --compress value.
func ParseCompression(s string) (Compression, error) {
	switch c := Compression(s); c {
	case Gzip, Zstd, Uncompressed:
		return c, nil
	case "":
		return Gzip, nil
	}
	return "", fmt.Errorf("unknown layer compression %q (want gzip, zstd or none)", s)
}

// BlobWriter is where [WriteLayer], [WriteImage] and [Flatten] put the blobs they make: a
// store transaction (*store.Tx), or a writer of the caller's that keeps them elsewhere (a
// bundle writes a flattened image without storing it).
type BlobWriter interface {
	// Put reads a blob from r; want gives its media type and, when known, its digest
	// and size (a negative size means unknown). It returns the blob's descriptor.
	Put(ctx context.Context, r io.Reader, want ocispec.Descriptor) (ocispec.Descriptor, error)
	// PutBytes puts a small blob held in memory.
	PutBytes(ctx context.Context, mediaType string, data []byte) (ocispec.Descriptor, error)
}

var _ BlobWriter = (*store.Tx)(nil)

// WriteLayer stages a layer whose uncompressed tar stream fill writes. It compresses and
// hashes in one pass (the diff ID over the tar, the digest over the stored bytes), so
// memory stays flat whatever the layer size.
func WriteLayer(ctx context.Context, tx BlobWriter, c Compression, fill func(w io.Writer) error) (ocispec.Descriptor, digest.Digest, error) {
	pr, pw := io.Pipe()
	type result struct {
		desc ocispec.Descriptor
		err  error
	}
	mt := map[Compression]string{Gzip: ocispec.MediaTypeImageLayerGzip, Zstd: ocispec.MediaTypeImageLayerZstd, Uncompressed: ocispec.MediaTypeImageLayer}[c]
	if mt == "" {
		return ocispec.Descriptor{}, "", fmt.Errorf("unknown layer compression %q", c)
	}
	done := make(chan result, 1)
	go func() {
		d, err := tx.Put(ctx, pr, ocispec.Descriptor{MediaType: mt, Size: -1})
		pr.CloseWithError(err) // unblock the writer if Put failed early
		done <- result{d, err}
	}()

	diff := sha256.New()
	var zw io.WriteCloser
	switch c {
	case Gzip:
		zw, _ = gzip.NewWriterLevel(pw, gzip.BestSpeed)
	case Zstd:
		zw, _ = zstd.NewWriter(pw, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	default:
		zw = nopWriteCloser{pw}
	}
	err := fill(io.MultiWriter(diff, zw))
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	pw.CloseWithError(err)
	res := <-done
	if err != nil {
		return ocispec.Descriptor{}, "", err
	}
	if res.err != nil {
		return ocispec.Descriptor{}, "", fmt.Errorf("store layer: %w", res.err)
	}
	return res.desc, digest.NewDigest(digest.SHA256, diff), nil
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
