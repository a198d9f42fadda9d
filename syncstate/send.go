package syncstate

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/bundle"
	"github.com/imgx/imgx/store"
)

// ErrNotRecorded wraps the error of a state file that could not be updated after the
// bundle was published: the bundle is out, but the next run will ship its layers again.
var ErrNotRecorded = errors.New("the bundle was published but the state file was not updated")

// Publisher writes a bundle to where it goes: it calls write with the destination and
// returns once the bundle is complete under its final name (for a file or server, after
// an atomic rename). size estimates the bytes, for a free-space check before writing.
type Publisher func(ctx context.Context, size int64, write func(io.Writer) error) error

// SendOptions tune [Send].
type SendOptions struct {
	// Bundle tunes the bundle written (compression, signers, platform, flatten). Its Since
	// makes a delta on an earlier bundle ([bundle.ReadBase]); with StatePath it must be nil.
	Bundle bundle.SaveOptions

	// StatePath is the sender's state file ([Load]); empty for none. With it the bundle
	// is a delta on the last one the state records, and the state is updated once the
	// bundle was published.
	StatePath string
	// Name is the file name the bundle is published under, recorded in the state: the
	// receiver names it when the next delta arrives before it.
	Name string
	// Always writes a bundle even when nothing changed since the state's last one.
	Always bool
	// Signers, when set, is called for the bundle's signers (added to Bundle.Signers)
	// only once a bundle is to be written, so that a run with nothing to send asks for no
	// key password.
	Signers func() ([]crypto.Signer, error)
	// Now is the clock for the state's update time; nil: time.Now.
	Now func() time.Time
}

// SendResult is what [Send] did.
type SendResult struct {
	// Bundle is the bundle written; nil when Unchanged.
	Bundle *bundle.SaveResult
	// Unchanged reports that nothing changed since the state's last bundle (Last), so
	// nothing was written: the same tags at the same digests, every blob shipped.
	Unchanged bool
	// Last is the last bundle the state recorded before this call; nil without a state
	// or before the first bundle.
	Last *bundle.BaseRef
}

// Send is the sending side of a sync: it writes the images from s as one bundle and hands
// it to publish. With a state file (opts.StatePath) the bundle is a delta leaving out
// every layer an earlier bundle shipped; if nothing changed since the last bundle nothing
// is written (unless opts.Always); the state records the bundle only after publish
// returned, so a failed run leaves it as it was and the next one ships everything still
// missing. A state file that cannot be written afterwards is an error wrapping
// [ErrNotRecorded] (the bundle is published nonetheless). When publish fails after the
// bundle was made (say some destinations of a fan-out failed), Send returns the result
// with publish's error and records nothing.
func Send(ctx context.Context, s *store.Store, images []store.Resolved, publish Publisher, opts SendOptions) (*SendResult, error) {
	bo := opts.Bundle
	res := &SendResult{}
	var st *State
	var tags map[string]digest.Digest
	if opts.StatePath != "" {
		if bo.Since != nil {
			return nil, fmt.Errorf("send: a delta on a bundle (Since) and on a state file exclude each other")
		}
		var err error
		if st, err = Load(opts.StatePath); err != nil {
			return nil, err
		}
		res.Last = st.Last
		bo.Since = st.Base()
		tags = TagsOf(images)
		// A flattened image is made anew each time, so its blobs are never "shipped".
		if !opts.Always && !bo.Flatten {
			descs, err := s.Reach(ctx, images)
			if err == nil && st.Unchanged(tags, digests(descs)) {
				res.Unchanged = true
				return res, nil
			}
		}
	}
	if opts.Signers != nil {
		sg, err := opts.Signers()
		if err != nil {
			return nil, err
		}
		bo.Signers = append(slices.Clip(bo.Signers), sg...)
	}
	var skip map[digest.Digest]bool
	if bo.Since != nil {
		skip = bo.Since.Carried
	}
	err := publish(ctx, s.EstimateSize(ctx, images, skip), func(w io.Writer) error {
		var err error
		res.Bundle, err = bundle.SaveImages(ctx, s, images, w, bo)
		return err
	})
	if err != nil {
		if res.Bundle != nil {
			// The bundle was made but publish failed, perhaps only in part (some
			// destinations of a fan-out): the result comes back for the report, and the
			// state is not recorded.
			return res, err
		}
		return nil, err
	}
	if st == nil {
		return res, nil
	}
	mb, err := res.Bundle.Manifest.Marshal()
	if err != nil {
		return res, fmt.Errorf("%w: %w", ErrNotRecorded, err)
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	if err := st.Record(mb, opts.Name, tags, now()); err != nil {
		return res, fmt.Errorf("%w: %w", ErrNotRecorded, err)
	}
	if err := st.Save(opts.StatePath); err != nil {
		return res, fmt.Errorf("%w: %w", ErrNotRecorded, err)
	}
	return res, nil
}

// TagsOf maps each image to its manifest digest, keyed by its normalised reference (its
// digest for an image named by digest): what the state compares between runs.
func TagsOf(images []store.Resolved) map[string]digest.Digest {
	tags := make(map[string]digest.Digest, len(images))
	for _, im := range images {
		key := im.Desc.Digest.String()
		if !im.Ref.IsZero() {
			key = im.Ref.String()
		}
		tags[key] = im.Desc.Digest
	}
	return tags
}

func digests(descs []ocispec.Descriptor) []digest.Digest {
	out := make([]digest.Digest, len(descs))
	for i, d := range descs {
		out[i] = d.Digest
	}
	return out
}
