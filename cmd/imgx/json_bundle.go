package main

import (
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/imgx/imgx/bundle"
	"github.com/imgx/imgx/ingest"
	"github.com/imgx/imgx/internal/errcode"
)

// ls

type lsJSON struct {
	jsonDoc
	Files []lsFileJSON `json:"files"`
}

type lsFileJSON struct {
	Name     string     `json:"name"`
	Size     int64      `json:"size"`
	Modified *time.Time `json:"modified,omitempty"`
	Dir      bool       `json:"dir"`
	// With --long, for bundles:
	Manifest string     `json:"manifest,omitempty"`
	Sequence *int       `json:"sequence,omitempty"`
	Base     *baseJSON  `json:"base,omitempty"`
	SignedBy *[]string  `json:"signed_by,omitempty"` // key IDs the signature entries name ([] unsigned): unchecked
	Images   []string   `json:"images,omitempty"`
	Error    *jsonError `json:"error,omitempty"`
	// With --long: an age-encrypted file.
	Encrypted bool `json:"encrypted,omitempty"`
}

func lsDoc(rows []lsRow) lsJSON {
	out := lsJSON{doc, []lsFileJSON{}}
	for _, r := range rows {
		f := lsFileJSON{Name: r.Name, Size: r.Size, Dir: r.Dir, Manifest: r.Manifest, Sequence: r.Sequence, Base: r.base, Images: r.Images, Encrypted: r.Encrypted}
		if r.Manifest != "" {
			ids := nonNil(r.SignedBy) // [] for an unsigned bundle
			f.SignedBy = &ids
		}
		if !r.Modified.IsZero() {
			m := r.Modified
			f.Modified = &m
		}
		if r.err != nil {
			e := errJSON(r.err)
			f.Error = &e
		}
		out.Files = append(out.Files, f)
	}
	return out
}

// verify

type verifyJSON struct {
	jsonDoc
	OK             bool          `json:"ok"`       // verified: a trusted signature and every check
	Verified       bool          `json:"verified"` // a trusted signature satisfying the policy covers it
	DigestsOK      bool          `json:"digests_ok"`
	ManifestDigest digest.Digest `json:"manifest_digest"`
	FormatVersion  string        `json:"format_version"`
	Created        time.Time     `json:"created"`
	Compression    string        `json:"compression"`
	Sequence       int           `json:"sequence"`
	Base           *baseJSON     `json:"base,omitempty"`
	Expected       int           `json:"expected"`
	Images         []verifyImage `json:"images"`
	Blobs          int           `json:"blobs"`
	BlobsChecked   int           `json:"blobs_checked"`
	LayersUnpacked int           `json:"layers_unpacked"`
	Bytes          int64         `json:"bytes"`
	Signers        []signerJSON  `json:"signers"`
	Warning        string        `json:"warning,omitempty"`
	Problems       []jsonError   `json:"problems"`
}

type verifyImage struct {
	Name          string        `json:"name"`
	Digest        digest.Digest `json:"digest"`
	FlattenedFrom digest.Digest `json:"flattened_from,omitempty"`
}

type signerJSON struct {
	KeyID   string `json:"key_id"`
	Trusted bool   `json:"trusted"`
	Valid   bool   `json:"valid"`
	Error   string `json:"error,omitempty"`
	Code    string `json:"code,omitempty"`
}

func verifyDoc(rep *bundle.Report, digestOnly bool) verifyJSON {
	v := rep.Signature.Verified && !digestOnly
	out := verifyJSON{jsonDoc: doc, OK: rep.OK() && v, Verified: v, DigestsOK: rep.OK(), ManifestDigest: rep.ManifestDigest,
		Compression: rep.Compression, Base: baseOf(rep.Base), Expected: rep.Expected, Images: []verifyImage{},
		BlobsChecked: rep.BlobsChecked, LayersUnpacked: rep.LayersUnpacked, Bytes: rep.Bytes,
		Signers: []signerJSON{}, Problems: []jsonError{}}
	if !digestOnly {
		out.Warning = rep.Signature.Warning
	}
	if m := rep.Manifest; m != nil {
		out.FormatVersion, out.Created, out.Sequence, out.Blobs = m.FormatVersion, m.Created, m.Sequence, len(m.Blobs)
	}
	for _, im := range rep.Images {
		out.Images = append(out.Images, verifyImage{Name: im.Tag(), Digest: im.Descriptor.Digest, FlattenedFrom: im.FlattenedFrom})
	}
	for _, p := range rep.Problems {
		out.Problems = append(out.Problems, errJSON(p))
	}
	for _, s := range rep.Signature.Signers {
		sg := signerJSON{KeyID: s.KeyID, Trusted: s.Trusted, Valid: s.Valid}
		if s.Err != nil {
			sg.Error, sg.Code = s.Err.Error(), errcode.Of(s.Err)
		}
		out.Signers = append(out.Signers, sg)
	}
	return out
}

// ingest

type ingestJSON struct {
	jsonDoc
	*ingest.Report // its own tags are the documented ones
}
