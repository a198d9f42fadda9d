package main

import (
	"github.com/opencontainers/go-digest"

	"github.com/imgx/imgx/archive"
	"github.com/imgx/imgx/bundle"
	"github.com/imgx/imgx/intake"
	"github.com/imgx/imgx/store"
)

// baseJSON names the bundle a delta applies on.
type baseJSON struct {
	Name     string        `json:"name"`
	Digest   digest.Digest `json:"digest"`
	Sequence int           `json:"sequence"`
}

func baseOf(b *bundle.BaseRef) *baseJSON {
	if b == nil {
		return nil
	}
	return &baseJSON{Name: b.Name, Digest: b.Digest, Sequence: b.Sequence}
}

// load

type loadJSON struct {
	jsonDoc
	Format         string        `json:"format"`
	Compression    string        `json:"compression,omitempty"`
	Verified       bool          `json:"verified"`
	Signers        []string      `json:"signers"` // trusted key IDs whose valid signatures covered it
	ManifestDigest digest.Digest `json:"manifest_digest,omitempty"`
	Sequence       *int          `json:"sequence,omitempty"`
	Base           *baseJSON     `json:"base,omitempty"`
	Images         []loadedJSON  `json:"images"`
	BlobsWritten   *int          `json:"blobs_written,omitempty"`
	BlobsSkipped   *int          `json:"blobs_skipped,omitempty"`
	BytesWritten   int64         `json:"bytes_written"`
	Warnings       []string      `json:"warnings"`
	ImagesVerified []string      `json:"images_verified"` // images whose signatures the image-signature policy accepted
	Artifacts      int           `json:"artifacts"`       // artifacts stored with the images
}

type loadedJSON struct {
	Name   string        `json:"name"` // familiar NAME:TAG applied, "" when untagged
	ID     digest.Digest `json:"id,omitempty"`
	Digest digest.Digest `json:"digest"`
}

func loadDoc(res *intake.Result) loadJSON {
	out := loadJSON{jsonDoc: doc, Format: string(res.Kind), Verified: res.Verified, Signers: nonNil(res.TrustedBy),
		Images: []loadedJSON{}, Warnings: nonNil(res.Warnings), ImagesVerified: nonNil(res.ImagesVerified)}
	if res.Bundle != nil && res.Bundle.Manifest != nil {
		out.Artifacts = len(res.Bundle.Manifest.Artifacts)
	}
	for _, im := range res.Images {
		out.Images = append(out.Images, loadedJSON{Name: im.Tag, ID: im.ID, Digest: im.Digest})
	}
	switch {
	case res.Bundle != nil:
		b := res.Bundle
		out.ManifestDigest = b.ManifestDigest
		if b.Manifest != nil {
			seq := b.Manifest.Sequence
			out.Sequence = &seq
			out.Base = baseOf(b.Manifest.Base)
		}
		out.BlobsWritten, out.BlobsSkipped = &b.BlobsWritten, &b.BlobsSkipped
		out.BytesWritten = b.BytesWritten
	case res.Archive != nil:
		out.Format = string(res.Archive.Format)
		out.Compression = string(res.Archive.Compression)
		out.BytesWritten = res.Archive.BytesWritten
		out.Warnings = append(out.Warnings, res.Archive.Notes...)
	}
	return out
}

// save

type saveJSON struct {
	jsonDoc
	Format         string        `json:"format"`
	ManifestDigest digest.Digest `json:"manifest_digest,omitempty"`
	Sequence       *int          `json:"sequence,omitempty"`
	Base           *baseJSON     `json:"base,omitempty"`
	Images         []savedJSON   `json:"images"`
	Blobs          int           `json:"blobs"`
	Bytes          int64         `json:"bytes"` // bytes of the bundle or archive
	Signers        []string      `json:"signers"`
	Output         *outputResult `json:"output,omitempty"` // one -o
	// Several -o (save_outputs.go): every destination, and how many failed.
	Destinations []destinationJSON `json:"destinations,omitempty"`
	Failed       *int              `json:"failed,omitempty"`
	// --since-state, nothing changed: nothing was written; Last is the last bundle.
	Unchanged bool      `json:"unchanged,omitempty"`
	Last      *baseJSON `json:"last,omitempty"`
	// Layers: with --layer-recipes, how each new layer was shipped and why.
	Layers []layerShippedJSON `json:"layers,omitempty"`
}

// unchangedDoc is save's document for a night with nothing to send.
func unchangedDoc(last *bundle.BaseRef) saveJSON {
	return saveJSON{jsonDoc: doc, Format: "imgx", Images: []savedJSON{}, Signers: []string{}, Unchanged: true, Last: baseOf(last)}
}

// withOutputs fills Output, or Destinations and Failed for a save with several -o.
func (d saveJSON) withOutputs(out *outputResult) saveJSON {
	d.Output = out
	if out != nil && out.destinations != nil {
		d.Output, d.Destinations, d.Failed = nil, out.destinations, &out.failed
	}
	return d
}

type savedJSON struct {
	Name   string        `json:"name"`
	Digest digest.Digest `json:"digest"`
}

func saveBundleDoc(res *bundle.SaveResult, out *outputResult) saveJSON {
	m := res.Manifest
	seq := m.Sequence
	d := saveJSON{jsonDoc: doc, Format: "imgx", ManifestDigest: res.ManifestDigest, Sequence: &seq, Base: baseOf(m.Base),
		Images: []savedJSON{}, Blobs: len(m.Blobs), Bytes: res.Written, Signers: nonNil(res.Signers)}.withOutputs(out)
	for _, im := range m.Images {
		d.Images = append(d.Images, savedJSON{Name: im.Tag(), Digest: im.Descriptor.Digest})
	}
	d.Layers = layersDoc(res.Layers)
	return d
}

func saveArchiveDoc(format string, images []store.Resolved, res *archive.SaveResult, out *outputResult) saveJSON {
	d := saveJSON{jsonDoc: doc, Format: format, Images: []savedJSON{}, Blobs: res.Blobs, Bytes: res.Bytes, Signers: []string{}}.withOutputs(out)
	for _, im := range images {
		s := savedJSON{Digest: im.Desc.Digest}
		if !im.Ref.IsZero() {
			s.Name = im.Ref.Familiar()
		}
		d.Images = append(d.Images, s)
	}
	return d
}
