package bundle

import (
	"context"
	"io"

	"github.com/opencontainers/go-digest"
)

// maxDescribeHead bounds what [Describe] reads: a head is a few KiB, a hostile one no
// more than this.
const maxDescribeHead = 64 << 20

// Summary is what a bundle's head says about it, for listings (imgx ls --long). Nothing
// in it is checked: the signature entries are only named, and the manifest's claims are
// the sender's until [Verify] or [Load] checks them.
type Summary struct {
	ManifestDigest digest.Digest // sha256 of imgx-bundle.json: the bundle's identity
	Sequence       int
	Base           *BaseRef // the bundle a delta builds on; nil for a full bundle
	// SignedBy are the key IDs the signature entries are named after, in order:
	// who claims to have signed, unchecked.
	SignedBy []string
	// Images are, per image, the tag a load applies, else its manifest digest.
	Images []string
}

// Describe reads the head of the bundle r (a few KiB; it never reads more than 64 MiB)
// and summarises it. An error means r is not a readable bundle.
func Describe(ctx context.Context, r io.Reader) (*Summary, error) {
	h, err := ReadHead(ctx, io.LimitReader(r, maxDescribeHead))
	if err != nil {
		return nil, err
	}
	m := h.Manifest
	s := &Summary{ManifestDigest: digest.FromBytes(h.ManifestBytes), Sequence: m.Sequence, Base: m.Base, SignedBy: h.SignerIDs}
	for _, im := range m.Images {
		if t := im.Tag(); t != "" {
			s.Images = append(s.Images, t)
		} else {
			s.Images = append(s.Images, im.Descriptor.Digest.String())
		}
	}
	return s, nil
}
