package bundle

import (
	"bytes"
	"compress/gzip"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestCheckBlob covers the diff-ID check on both paths (an uncompressed layer checked by
// its digest alone, a compressed one decompressed through the chunk pipe), with blobs
// smaller than one chunk and spanning several.
func TestCheckBlob(t *testing.T) {
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		zw.Write(b)
		zw.Close()
		return buf.Bytes()
	}
	rnd := func(n int) []byte {
		b := make([]byte, n)
		r := rand.New(rand.NewPCG(uint64(n), 7))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	small := []byte(strings.Repeat("layer bytes ", 100))
	big := rnd(3*readAheadBuf + 12345) // several chunks, not a whole number of them
	text := []byte(strings.Repeat("the quick brown fox jumps over the lazy dog\n", 200000))
	wrong := digest.FromString("something else")
	type tc struct {
		name     string
		blob     []byte
		diffID   digest.Digest
		desc     *ocispec.Descriptor // default: the blob's own digest and size
		want     error               // nil: passes
		contains string
	}
	tests := []tc{
		{name: "plain small", blob: small, diffID: digest.FromBytes(small)},
		{name: "plain big", blob: big, diffID: digest.FromBytes(big)},
		{name: "plain wrong diff ID", blob: big, diffID: wrong, want: ErrImage, contains: "hashes to " + digest.FromBytes(big).String()},
		{name: "plain empty", blob: nil, diffID: digest.FromBytes(nil)},
		{name: "gzip small", blob: gz(small), diffID: digest.FromBytes(small)},
		{name: "gzip big", blob: gz(big), diffID: digest.FromBytes(big)},
		{name: "gzip text", blob: gz(text), diffID: digest.FromBytes(text)},
		{name: "gzip wrong diff ID", blob: gz(text), diffID: wrong, want: ErrImage, contains: "hashes to " + digest.FromBytes(text).String()},
		{name: "gzip diff ID of compressed bytes", blob: gz(small), diffID: digest.FromBytes(gz(small)), want: ErrImage},
		{name: "gzip with trailing garbage", blob: append(gz(big), "trailer"...), diffID: digest.FromBytes(big), want: ErrImage}, // as before: gzip reads it as a next member
		{name: "gzip truncated stream", blob: gz(big)[:2*readAheadBuf], diffID: digest.FromBytes(big), want: ErrImage, contains: "decompress layer"},
		{name: "gzip corrupt", blob: append(gz(small)[:20], make([]byte, 100)...), diffID: digest.FromBytes(small), want: ErrImage},
		{name: "digest mismatch beats diff ID", blob: gz(big), diffID: digest.FromBytes(big), want: ErrDigest,
			desc: &ocispec.Descriptor{Digest: wrong, Size: int64(len(gz(big)))}},
		{name: "plain digest mismatch", blob: big, diffID: digest.FromBytes(big), want: ErrDigest,
			desc: &ocispec.Descriptor{Digest: wrong, Size: int64(len(big))}},
		{name: "short blob", blob: big[:readAheadBuf+10], diffID: digest.FromBytes(big), want: ErrTruncated,
			desc: &ocispec.Descriptor{Digest: digest.FromBytes(big), Size: int64(len(big))}},
		{name: "short gzip blob", blob: gz(big)[:readAheadBuf+10], diffID: digest.FromBytes(big), want: ErrTruncated,
			desc: &ocispec.Descriptor{Digest: digest.FromBytes(gz(big)), Size: int64(len(gz(big)))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromBytes(tt.blob), Size: int64(len(tt.blob))}
			if tt.desc != nil {
				d.Digest, d.Size = tt.desc.Digest, tt.desc.Size
			}
			for _, unpack := range []bool{true, false} {
				err := checkBlob(&blobEntry{Desc: d}, bytes.NewReader(tt.blob), unpack, tt.diffID)
				want := tt.want
				if !unpack && errors.Is(want, ErrImage) {
					want = nil // --fast does not look inside
				}
				switch {
				case want == nil && err != nil:
					t.Fatalf("unpack=%v: %v", unpack, err)
				case want != nil && !errors.Is(err, want):
					t.Fatalf("unpack=%v: got %v, want %v", unpack, err, want)
				case want != nil && unpack && !strings.Contains(err.Error(), tt.contains):
					t.Fatalf("error %q does not mention %q", err, tt.contains)
				}
			}
		})
	}
}
