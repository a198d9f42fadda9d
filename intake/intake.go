// Package intake is the trust gate. Every image input imgx takes from outside the store
// (an imgx bundle, a docker-archive, an oci-archive or an OCI layout; from a file, a
// directory, standard input or a remote reader) comes in through [Load] or [Verify]:
// they decide the format from the bytes, never from the name, and apply the trust policy
// before anything is stored.
//
// The rule: once any trust is configured ([verify.Policy.Configured]: a trusted key, a
// threshold, a required signature), only imgx bundles whose signatures satisfy the policy
// are accepted. Every other format carries no signature and is refused with
// [ErrUnsignedFormat], unless the policy explicitly accepts unverified input
// (AcceptUnverified, the CLI's --insecure-accept-unsigned): then it loads with a
// "NOT VERIFIED" warning. A policy that cannot be what the user meant (a threshold above
// the keys found, a required signature without keys) is an error before any input is read.
//
// The gate is its own package because it sits above both readers it chooses between
// (bundle and archive) and below every command that takes input (load, verify, ingest):
// putting it in either reader would make one format's package decide for the other.
//
// Encrypted input (an age file: package seal) is decrypted as the gate's first stage,
// before detection, so the format, the trust policy and verify-before-commit all apply
// to the plaintext exactly as to an unencrypted input; without a matching identity the
// input is refused after its header, before anything else is read.
package intake

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"filippo.io/age"
	"github.com/opencontainers/go-digest"

	"github.com/imgx/imgx/archive"
	"github.com/imgx/imgx/bundle"
	"github.com/imgx/imgx/imagepolicy"
	"github.com/imgx/imgx/internal/compress"
	"github.com/imgx/imgx/internal/safetext"
	"github.com/imgx/imgx/progress"
	"github.com/imgx/imgx/ref"
	"github.com/imgx/imgx/seal"
	"github.com/imgx/imgx/store"
	"github.com/imgx/imgx/verify"
)

// Kind is an input's format, decided from its content.
type Kind string

// The kinds [Detect] reports.
const (
	KindBundle        Kind = "imgx-bundle"
	KindDockerArchive Kind = Kind(archive.FormatDockerArchive)
	KindOCIArchive    Kind = Kind(archive.FormatOCIArchive)
	KindOCILayout     Kind = Kind(archive.FormatOCILayout)
	KindDockerDir     Kind = Kind(archive.FormatDockerDir)
	KindTar           Kind = "tar"     // a tar archive of no known image format
	KindUnknown       Kind = "unknown" // not a (possibly compressed) tar archive
)

var (
	// ErrUnsignedFormat: trust is configured and the input is not an imgx bundle, so no
	// signature can cover it.
	ErrUnsignedFormat = errors.New("carries no signature")
	// ErrNotBundle: the operation reads imgx bundles only (verify, ingest).
	ErrNotBundle = bundle.ErrNotBundle
	// ErrNotVerified: [Verify] had no trusted key to check signatures against and digest
	// checking alone was not asked for.
	ErrNotVerified = errors.New("NOT VERIFIED: no trusted key configured, so no signature was checked")
)

// Input is what to read: a stream R, or a local directory Dir (an OCI layout or an
// unpacked docker save). Name names it in warnings; errors do not repeat it, since callers
// prefix their own ("load NAME: …").
type Input struct {
	Name string
	R    io.Reader
	Dir  string
	// At, if set, reads by offset the same file R reads from its start (a local file):
	// [Verify] then checks the layers of a bundle with parallel readers of it (see
	// bundle.VerifyOptions.At). Not for an encrypted input, whose plaintext is a stream.
	At io.ReaderAt
}

// Options tune [Load].
type Options struct {
	// Policy is the trust policy; the zero Policy is "no trust configured".
	Policy verify.Policy
	// BundlesOnly refuses every format but the imgx bundle, trust or not (ingest).
	BundlesOnly bool
	// Progress reports blob bytes of a bundle load.
	Progress progress.Progress
	// Archive tunes loads of foreign archives.
	Archive archive.LoadOptions
	// Images is the image-signature policy (see package imagepolicy): for every image it
	// covers, a cosign signature by a trusted key (and the attestations it names) must
	// travel with the image in the bundle, or the whole input is refused before commit.
	// Only imgx bundles carry what it checks: with it configured, another format is
	// refused like unsigned input.
	Images *imagepolicy.Policy
	// Identities decrypt an encrypted (age) input; see [seal.Open].
	Identities []age.Identity
	// Tag, if set, names the input's one untagged image, in the load's own commit (so
	// only an input the policy accepted is ever named); an input without exactly one is
	// refused with store.ErrTagTarget and nothing is added.
	Tag ref.Ref
}

// Image is one image the load tagged (or stored untagged).
type Image struct {
	// Tag is the familiar form of the tag applied ("app:1.2"), "" for an untagged image:
	// the name to show is the name applied.
	Tag string `json:"tag,omitempty"`
	// ID is the image ID listings show (config digest; the digest of an index); ""
	// if it could not be read back after the commit.
	ID     digest.Digest `json:"id"`
	Digest digest.Digest `json:"digest"`
}

// Result describes an accepted input. Exactly one of Bundle and Archive is set.
type Result struct {
	Kind Kind `json:"format"`
	// Encrypted is true when the input was an age file decrypted before the gate.
	Encrypted bool `json:"encrypted,omitempty"`
	// Verified is true only when trusted signatures satisfying the policy covered
	// everything that was loaded.
	Verified  bool     `json:"verified"`
	TrustedBy []string `json:"trustedBy,omitempty"`
	// Warnings are about trust: unverified input, signatures that failed beside valid ones.
	Warnings []string `json:"warnings,omitempty"`
	Images   []Image  `json:"images"`
	// ImagesVerified names the images whose signatures the image-signature policy checked
	// and accepted.
	ImagesVerified []string           `json:"imagesVerified,omitempty"`
	Bundle         *bundle.LoadResult `json:"bundle,omitempty"`
	Archive        *archive.Result    `json:"archive,omitempty"`
}

// Load passes in through the trust gate and, if it is accepted, into s: see the package
// comment for the rule. The store is unchanged when the input is refused.
func Load(ctx context.Context, s *store.Store, in Input, opts Options) (*Result, error) {
	pol := opts.Policy
	if err := pol.Check(); err != nil {
		return nil, err
	}
	opts.Archive.Tag = opts.Tag
	if in.Dir != "" {
		f, err := archive.DetectDir(in.Dir)
		if err != nil {
			return nil, err
		}
		if err := gate(Kind(f), opts); err != nil {
			return nil, err
		}
		r, err := archive.LoadDir(ctx, s, in.Dir, opts.Archive)
		if err != nil {
			return nil, err
		}
		return archiveResult(in.Name, Kind(f), r, pol), nil
	}
	kind, br, direct, encrypted, err := detectDecrypt(in.R, opts.Identities)
	if err != nil {
		return nil, err
	}
	if kind != KindBundle {
		if err := gate(kind, opts); err != nil {
			return nil, err
		}
		r, err := archive.Load(ctx, s, br, opts.Archive)
		if err != nil {
			return nil, err
		}
		res := archiveResult(in.Name, Kind(r.Format), r, pol)
		res.Encrypted = encrypted
		return res, nil
	}
	var checked []string
	lo := bundle.LoadOptions{Policy: pol, Progress: opts.Progress, Tag: opts.Tag}
	if opts.Images.Configured() {
		lo.CheckImages = func(ctx context.Context, tx *store.Tx, m *bundle.Manifest) (map[digest.Digest]string, error) {
			r, err := CheckImages(ctx, opts.Images, tx, m)
			if err != nil {
				return nil, err
			}
			checked = r.Checked
			return r.Signers, nil
		}
	}
	br2, err := bundle.Load(ctx, s, direct, lo)
	if err != nil {
		return nil, err
	}
	res := &Result{Kind: KindBundle, Bundle: br2, Verified: br2.Signature.Verified, TrustedBy: br2.Signature.TrustedBy, ImagesVerified: checked, Encrypted: encrypted}
	if w := br2.Signature.Warning; w != "" {
		res.Warnings = append(res.Warnings, w)
	}
	named := map[digest.Digest]bool{}
	for _, im := range br2.Images {
		if im.Tag() != "" {
			named[im.Descriptor.Digest] = true
		}
	}
	for _, im := range br2.Images {
		tag := im.Tag()
		if tag == "" && !opts.Tag.IsZero() && !named[im.Descriptor.Digest] {
			tag = opts.Tag.Familiar() // the name Load gave it
		}
		// Committed and verified: the manifest is in the store. The load succeeded even
		// if it cannot be read back now; the image is then shown by its digest.
		id, _ := s.ImageID(ctx, im.Descriptor)
		res.Images = append(res.Images, Image{Tag: tag, ID: id, Digest: im.Descriptor.Digest})
	}
	return res, nil
}

// gate decides whether a foreign format may load.
func gate(kind Kind, opts Options) error {
	// The caller names the input in its own error prefix.
	if opts.BundlesOnly {
		return fmt.Errorf("%w: it is %s; only imgx bundles are read here", ErrNotBundle, article(kind))
	}
	if opts.Images.Configured() && !opts.Policy.AcceptUnverified {
		return fmt.Errorf("it is %s, which %w: an image-signature policy is configured, and only imgx bundles carry the signatures it checks",
			article(kind), ErrUnsignedFormat)
	}
	if opts.Policy.Configured() && !opts.Policy.AcceptUnverified {
		return fmt.Errorf("it is %s, which %w: a trust policy is configured, so only imgx bundles whose signatures satisfy it are accepted",
			article(kind), ErrUnsignedFormat)
	}
	return nil
}

func archiveResult(name string, kind Kind, r *archive.Result, pol verify.Policy) *Result {
	res := &Result{Kind: kind, Archive: r}
	if pol.Configured() {
		// Only reached with AcceptUnverified.
		res.Warnings = append(res.Warnings, fmt.Sprintf("%s%s is %s, which carries no signature (accepted: unverified input explicitly allowed)",
			verify.NotVerifiedPrefix, safetext.Quote(name), article(kind)))
	}
	for _, l := range r.Images {
		res.Images = append(res.Images, Image{Tag: l.Name, ID: l.ID, Digest: l.Digest})
	}
	return res
}

// Detect reports the format of a stream from its first bytes, and a reader that yields
// the whole stream again. The decision that matters for trust does not rest on it: a
// stream that is not a bundle goes to the archive reader, which trust refuses; a stream
// that claims to be one goes to the bundle reader, which checks everything.
func Detect(r io.Reader) (Kind, io.Reader, error) { return detect(r) }

// detectDecrypt is detect behind decryption: an age file is opened with ids (and refused,
// having read no more than its header, without a matching identity), and the format is
// decided from the plaintext. The trust gate and the readers then see only plaintext.
// direct reads the same bytes as br, past br's buffer straight from what br reads from:
// the bundle reader reads big blocks, which br would copy once more.
func detectDecrypt(r io.Reader, ids []age.Identity) (k Kind, br *bufio.Reader, direct io.Reader, encrypted bool, err error) {
	outer := bufio.NewReaderSize(r, 1<<20)
	p, _ := outer.Peek(seal.PeekSize)
	under := io.Reader(outer) // what detect's reader reads from
	if seal.IsEncrypted(p) {
		encrypted = true
		if under, err = seal.Open(outer, ids); err != nil {
			return KindUnknown, nil, nil, true, err
		}
	}
	k, br, err = detect(under)
	switch {
	case io.Reader(br) == under && br == outer:
		direct = compress.Unbuffer(br, r) // detect kept outer, which reads r
	case io.Reader(br) == under:
		direct = br // a reader of seal's own: what it reads from is not known here
	default:
		direct = compress.Unbuffer(br, under)
	}
	return k, br, direct, encrypted, err
}

func detect(r io.Reader) (Kind, *bufio.Reader, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	p, err := archive.Peek(br)
	if err != nil {
		return KindUnknown, br, err
	}
	switch {
	case len(p.Entries) > 0 && p.Entries[0] == bundle.ManifestName:
		return KindBundle, br, nil
	case slices.Contains(p.Entries, "manifest.json"):
		return KindDockerArchive, br, nil // Docker 25+ archives are also OCI layouts
	case p.Format != archive.FormatUnknown:
		return Kind(p.Format), br, nil
	case p.Tar:
		return KindTar, br, nil
	}
	return KindUnknown, br, nil
}

func article(k Kind) string {
	switch k {
	case KindUnknown:
		return "not a tar archive of a known image format"
	case KindTar:
		return "a tar archive of no known image format"
	case KindOCIArchive, KindOCILayout:
		return "an " + string(k)
	}
	return "a " + string(k)
}

// VerifyOptions tune [Verify].
type VerifyOptions struct {
	Policy verify.Policy
	// DigestOnly is the explicit choice to check a bundle without any trusted key: every
	// digest and size, but no signature. The report then says NOT VERIFIED and has no
	// problem for it. It excludes a configured policy.
	DigestOnly bool
	// Fast skips decompressing layers to check their diff IDs (bundle.VerifyOptions).
	Fast bool
	// Identities decrypt an encrypted (age) input; see [seal.Open].
	Identities []age.Identity
	// Images is the image-signature policy checked as load would (see Options.Images).
	Images *imagepolicy.Policy
}

// Verify checks a bundle input without storing anything, through the same gate as Load:
// the input must be an imgx bundle (a directory or any other format is refused with
// ErrNotBundle naming what it is), and a policy that cannot be satisfied is an error.
// Without any trusted key the report gets an ErrNotVerified problem, so it is never OK,
// unless DigestOnly. The report is nil when the bundle could not be opened.
func Verify(ctx context.Context, in Input, opts VerifyOptions) (*bundle.Report, error) {
	if opts.DigestOnly && opts.Policy.Configured() {
		return nil, errors.New("digest-only checking excludes trusted keys, a threshold and a required signature")
	}
	// Verify reports; accepting unverified input is a load decision.
	opts.Policy.AcceptUnverified = false
	if err := opts.Policy.Check(); err != nil {
		return nil, err
	}
	if in.Dir != "" {
		f, _ := archive.DetectDir(in.Dir)
		k := Kind(f)
		if f == archive.FormatUnknown {
			return nil, fmt.Errorf("%w: it is a directory", ErrNotBundle)
		}
		return nil, fmt.Errorf("%w: it is %s (a directory)", ErrNotBundle, article(k))
	}
	kind, _, direct, encrypted, err := detectDecrypt(in.R, opts.Identities)
	if err != nil {
		return nil, err
	}
	if kind != KindBundle {
		return nil, fmt.Errorf("%w: it is %s", ErrNotBundle, article(kind))
	}
	vo := bundle.VerifyOptions{Policy: opts.Policy, Fast: opts.Fast}
	if !encrypted {
		vo.At = in.At // the bundle is the file itself, from its first byte
	}
	if opts.Images.Configured() {
		vo.CheckImages = func(ctx context.Context, blobs bundle.BlobOpener, m *bundle.Manifest) error {
			_, err := CheckImages(ctx, opts.Images, blobs, m)
			return err
		}
	}
	rep, err := bundle.Verify(ctx, direct, vo)
	if rep == nil {
		return nil, err
	}
	if len(opts.Policy.Keys) == 0 && !opts.DigestOnly {
		rep.Problems = append(rep.Problems, ErrNotVerified)
	}
	return rep, rep.Err()
}

// CheckImages applies the image-signature policy to the images of bundle manifest m,
// reading their artifacts through blobs (the load's transaction, before commit). An
// image's repository is that of the tag it gets; an untagged image has none.
func CheckImages(ctx context.Context, p *imagepolicy.Policy, blobs imagepolicy.Blobs, m *bundle.Manifest) (*imagepolicy.Result, error) {
	var ims []imagepolicy.Image
	for _, im := range m.Images {
		i := imagepolicy.Image{Name: im.Descriptor.Digest.String(), Digest: im.Descriptor.Digest}
		if t := im.Tag(); t != "" {
			i.Name = t
			if r, err := ref.ParseNamed(im.Ref); err == nil {
				i.Repository = r.Name()
			}
		}
		ims = append(ims, i)
	}
	arts := make([]store.Artifact, 0, len(m.Artifacts))
	for _, a := range m.Artifacts {
		arts = append(arts, store.Artifact{Subject: a.Subject, Kind: a.Kind, Desc: a.Descriptor})
	}
	return p.Check(ctx, blobs, ims, arts)
}
