package main

// The --json output of every command. Library results are converted here into documents
// with one key style (snake_case), [] rather than null for every list, errors as
// {"error": text, "code": errcode}, structured values (a base is {name, digest, sequence})
// and schema_version at the top level. docs/json.md documents each document; the tests
// check every key printed against it. Library types keep their own tags: only this file
// decides what scripts see.

import (
	"context"
	"errors"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/imgx/imgx/archive"
	"github.com/imgx/imgx/bundle"
	"github.com/imgx/imgx/ingest"
	"github.com/imgx/imgx/intake"
	"github.com/imgx/imgx/internal/errcode"
	"github.com/imgx/imgx/registry"
	"github.com/imgx/imgx/store"
)

// schemaVersion is the version of every document below: raised when a key is removed,
// renamed or changes type; new keys do not raise it.
const schemaVersion = 1

// jsonDoc is embedded first in every top-level document.
type jsonDoc struct {
	SchemaVersion int `json:"schema_version"`
}

var doc = jsonDoc{SchemaVersion: schemaVersion}

// printJSON prints the --json document v and notes that one was printed.
func (e *Env) printJSON(v any) error {
	e.jsonDone = true
	return writeJSON(e.Stdout, v)
}

// failureJSON is what a --json command prints when it fails before its document: the
// error and its code, so that a script reading stdout learns why (the error is on
// stderr too, as always).
type failureJSON struct {
	jsonDoc
	jsonError
}

// jsonRun wraps the Run of a command with --json (*on): when run fails without having
// printed its document, it prints a failureJSON instead. Interruptions and usage errors
// print none: the first is no result, the second is the caller's mistake, on stderr.
func jsonRun(on *bool, run func(ctx context.Context, e *Env, args []string) error) func(ctx context.Context, e *Env, args []string) error {
	return func(ctx context.Context, e *Env, args []string) error {
		err := run(ctx, e, args)
		var usage usageError
		if err != nil && *on && !e.jsonDone && ctx.Err() == nil && !errors.As(err, &usage) {
			if jerr := e.printJSON(failureJSON{doc, errJSON(err)}); jerr != nil {
				return errors.Join(err, jerr)
			}
		}
		return err
	}
}

// jsonError is an error as JSON: its text, and a code scripts can branch on.
type jsonError struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

func errJSON(err error) jsonError { return jsonError{Error: err.Error(), Code: errcode.Of(err)} }

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

// nonNil returns s, or an empty slice for nil, so that lists print [] and never null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// images

type imagesJSON struct {
	jsonDoc
	Images []imageRow `json:"images"`
}

func imagesDoc(rows []imageRow) imagesJSON {
	for i := range rows {
		rows[i].Platforms = nonNil(rows[i].Platforms)
	}
	return imagesJSON{doc, nonNil(rows)}
}

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
}

func lsDoc(rows []lsRow) lsJSON {
	out := lsJSON{doc, []lsFileJSON{}}
	for _, r := range rows {
		f := lsFileJSON{Name: r.Name, Size: r.Size, Dir: r.Dir, Manifest: r.Manifest, Sequence: r.Sequence, Base: r.base, Images: r.Images}
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

// check

type checkJSON struct {
	jsonDoc
	OK          bool          `json:"ok"`
	Images      int           `json:"images"`
	Blobs       int           `json:"blobs"`
	Bytes       int64         `json:"bytes"`
	Unreachable int           `json:"unreachable"`
	Leftovers   int           `json:"leftovers"`
	Artifacts   int           `json:"artifacts"`
	Orphans     int           `json:"orphan_artifacts"`
	Problems    []problemJSON `json:"problems"`
}

type problemJSON struct {
	Image string        `json:"image,omitempty"`
	Blob  digest.Digest `json:"blob,omitempty"`
	jsonError
}

func checkDoc(rep store.CheckReport) checkJSON {
	out := checkJSON{jsonDoc: doc, OK: rep.OK(), Images: rep.Images, Blobs: rep.Blobs, Bytes: rep.Bytes,
		Unreachable: rep.Unreachable, Leftovers: rep.Leftovers, Artifacts: rep.Artifacts, Orphans: rep.Orphans, Problems: []problemJSON{}}
	for _, p := range rep.Problems {
		pj := problemJSON{Image: p.Image, Blob: p.Blob, jsonError: errJSON(p)}
		if p.Blob != "" && errors.Is(p, store.ErrNotFound) {
			pj.Code = errcode.MissingBlob // the store lacks a blob an image uses
		}
		out.Problems = append(out.Problems, pj)
	}
	return out
}

// prune

type pruneJSON struct {
	jsonDoc
	Blobs      []digest.Digest `json:"blobs"`
	Leftovers  int             `json:"leftovers"`
	BytesFreed int64           `json:"bytes_freed"`
	Missing    []digest.Digest `json:"missing"`
	Artifacts  int             `json:"artifacts"`
}

func pruneDoc(rep store.PruneReport) pruneJSON {
	return pruneJSON{doc, nonNil(rep.Blobs), rep.Leftovers, rep.BytesFreed, nonNil(rep.Missing), rep.Artifacts}
}

// diff

type diffJSON struct {
	jsonDoc
	Changes []diffRow `json:"changes"`
}

type diffRow struct {
	Kind string `json:"kind"`
	Path string `json:"path"`
}

// history

type historyJSON struct {
	jsonDoc
	History []historyRow `json:"history"`
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
	for i, im := range res.Images {
		l := loadedJSON{Name: im.Tag, Digest: im.Digest}
		if res.Archive != nil && i < len(res.Archive.Images) {
			l.ID = res.Archive.Images[i].ID
		}
		out.Images = append(out.Images, l)
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
	Output         *outputResult `json:"output"`
}

type savedJSON struct {
	Name   string        `json:"name"`
	Digest digest.Digest `json:"digest"`
}

func saveBundleDoc(res *bundle.SaveResult, out *outputResult) saveJSON {
	m := res.Manifest
	seq := m.Sequence
	d := saveJSON{jsonDoc: doc, Format: "imgx", ManifestDigest: res.ManifestDigest, Sequence: &seq, Base: baseOf(m.Base),
		Images: []savedJSON{}, Blobs: len(m.Blobs), Bytes: res.Written, Signers: nonNil(res.Signers), Output: out}
	for _, im := range m.Images {
		d.Images = append(d.Images, savedJSON{Name: im.Tag(), Digest: im.Descriptor.Digest})
	}
	return d
}

func saveArchiveDoc(format string, images []store.Resolved, res *archive.SaveResult, out *outputResult) saveJSON {
	d := saveJSON{jsonDoc: doc, Format: format, Images: []savedJSON{}, Blobs: res.Blobs, Bytes: res.Bytes, Signers: []string{}, Output: out}
	for _, im := range images {
		s := savedJSON{Digest: im.Desc.Digest}
		if !im.Ref.IsZero() {
			s.Name = im.Ref.Familiar()
		}
		d.Images = append(d.Images, s)
	}
	return d
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

// pull

type pullJSON struct {
	jsonDoc
	Ref           string                    `json:"ref"`
	Digest        digest.Digest             `json:"digest"`
	MediaType     string                    `json:"media_type"`
	Size          int64                     `json:"size"`
	RemoteDigest  digest.Digest             `json:"remote_digest"`
	Platforms     []string                  `json:"platforms"`
	Trimmed       bool                      `json:"trimmed"`
	Blobs         int                       `json:"blobs"`
	Fetched       int                       `json:"fetched"`
	FetchedBytes  int64                     `json:"fetched_bytes"`
	AlreadyStored int                       `json:"already_stored"`
	Artifacts     []registry.PulledArtifact `json:"artifacts"`
}

func pullDoc(r *registry.PullResult) pullJSON {
	return pullJSON{doc, r.Ref, r.Desc.Digest, r.Desc.MediaType, r.Desc.Size, r.RemoteDigest, nonNil(r.Platforms), r.Trimmed,
		r.Blobs, r.Fetched, r.FetchedBytes, r.Present, nonNil(r.Artifacts)}
}

// push

type pushJSON struct {
	jsonDoc
	*registry.PushResult // already snake_case
}

// ingest

type ingestJSON struct {
	jsonDoc
	*ingest.Report // its own tags are the documented ones
}

// rmi

type rmiJSON struct {
	jsonDoc
	Untagged   []string        `json:"untagged"`
	Deleted    []string        `json:"deleted"`
	Freed      []digest.Digest `json:"freed"` // blobs freed; [] with --no-prune
	BytesFreed int64           `json:"bytes_freed"`
	Missing    []digest.Digest `json:"missing"`
	Errors     []jsonError     `json:"errors"` // REFs that could not be removed
}

func rmiDoc(untagged, deleted []string, freed *store.PruneReport, errs []error) rmiJSON {
	out := rmiJSON{jsonDoc: doc, Untagged: nonNil(untagged), Deleted: nonNil(deleted), Freed: []digest.Digest{},
		Missing: []digest.Digest{}, Errors: []jsonError{}}
	if freed != nil {
		out.Freed, out.BytesFreed, out.Missing = nonNil(freed.Blobs), freed.BytesFreed, nonNil(freed.Missing)
	}
	for _, err := range errs {
		out.Errors = append(out.Errors, errJSON(err))
	}
	return out
}

// keygen

type keygenJSON struct {
	jsonDoc
	KeyID      string `json:"key_id"`
	PrivateKey string `json:"private_key"` // path of the encrypted private key
	PublicKey  string `json:"public_key"`  // path of the public key
}
