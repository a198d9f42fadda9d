package bundle

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/internal/jsonlimit"
	"github.com/imgx/imgx/internal/safetext"
	"github.com/imgx/imgx/ref"
	"github.com/imgx/imgx/store"
)

// Format constants; see docs/bundle-format.md.
const (
	MediaType     = "application/vnd.imgx.bundle.manifest.v1+json"
	FormatVersion = "1.0"
	// FormatVersionArtifacts is the version of a bundle that carries artifacts
	// (Manifest.Artifacts). A 1.0 reader refuses such a bundle rather than misread it:
	// the artifacts' blobs are listed but no image reaches them.
	FormatVersionArtifacts = "1.1"
	formatMajor            = 1

	ManifestName   = "imgx-bundle.json"
	signaturesDir  = "signatures/"
	signatureExt   = ".sigstore.json"
	blobsPrefix    = "blobs/sha256/"
	dockerManifest = "manifest.json"

	maxManifestSize  = 8 << 20
	maxSignatureSize = 256 << 10
	maxSignatures    = 64
	maxFileSize      = 16 << 20
	maxMetaBlob      = 8 << 20 // a manifest, index or config kept in memory
	maxMetaTotal     = 24 << 20
	// maxJSONValues bounds the objects, arrays and elements of the manifest, of each
	// signature and of each manifest, index or config: decoded JSON can take a hundred
	// times its size (see internal/jsonlimit).
	maxJSONValues = 1 << 17
	// maxEntryName bounds entry names; the longest a bundle has is a signature's, 90 bytes.
	maxEntryName = 256
)

// Manifest is the bundle manifest, imgx-bundle.json.
type Manifest struct {
	MediaType     string               `json:"mediaType"`
	FormatVersion string               `json:"formatVersion"`
	Created       time.Time            `json:"created"`
	Sequence      int                  `json:"sequence"`
	Images        []Image              `json:"images"`
	Files         []File               `json:"files"`
	Blobs         []ocispec.Descriptor `json:"blobs"`
	Base          *BaseRef             `json:"base,omitempty"`
	Expects       []ocispec.Descriptor `json:"expects,omitempty"`
	Artifacts     []Artifact           `json:"artifacts,omitempty"`
	// Requires (format 2.x) names the features a reader must implement; Recipes ships
	// layers as recipes over expected ones (feature layer-recipes).
	Requires []string      `json:"requires,omitempty"`
	Recipes  []LayerRecipe `json:"recipes,omitempty"`
}

// Artifact is a signature, attestation or SBOM the bundle carries with an image: a
// manifest (its blobs among Blobs or Expects) attached to Subject, a manifest or index
// that an image of the bundle reaches (or another artifact). Load records the link in
// the store (store.Artifact).
type Artifact struct {
	Subject    digest.Digest      `json:"subject"`
	Kind       store.ArtifactKind `json:"kind"`
	Descriptor ocispec.Descriptor `json:"descriptor"`
}

// Image is one image the bundle carries and load tags.
type Image struct {
	Name          string             `json:"name,omitempty"` // familiar form, "app:1.2"
	Ref           string             `json:"ref,omitempty"`  // normalised, "docker.io/library/app:1.2"
	Descriptor    ocispec.Descriptor `json:"descriptor"`
	FlattenedFrom digest.Digest      `json:"flattenedFrom,omitempty"`
}

// File is a layout file (oci-layout, index.json, manifest.json) pinned by digest.
type File struct {
	Name   string        `json:"name"`
	Digest digest.Digest `json:"digest"`
	Size   int64         `json:"size"`
}

// BaseRef identifies the bundle a delta builds on.
type BaseRef struct {
	Digest   digest.Digest `json:"digest"` // sha256 of the base's imgx-bundle.json
	Sequence int           `json:"sequence"`
	Name     string        `json:"name,omitempty"` // file name hint for messages
	Chain    []BaseRef     `json:"chain,omitempty"`
}

// String names the base for error messages. The name is the sender's text, signed or
// not, so it is escaped: a newline in it would forge a line of ingest's report.
func (b *BaseRef) String() string {
	s := fmt.Sprintf("bundle %s (sequence %d)", b.Digest, b.Sequence)
	if b.Name != "" {
		s = fmt.Sprintf("%s, %s", safetext.Quote(b.Name), s)
	}
	return s
}

// Marshal encodes m deterministically (the bytes that get signed).
func (m *Manifest) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ParseManifest decodes and validates a bundle manifest. A major version other than 1 is
// refused with ErrVersion before anything else is looked at.
func ParseManifest(data []byte) (*Manifest, error) {
	var head struct {
		MediaType     string `json:"mediaType"`
		FormatVersion string `json:"formatVersion"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrMalformed, ManifestName, err)
	}
	major, _, ok := strings.Cut(head.FormatVersion, ".")
	n, err := strconv.Atoi(major)
	if !ok || err != nil {
		return nil, fmt.Errorf("%w: %s: formatVersion %.64q is not MAJOR.MINOR", ErrMalformed, ManifestName, head.FormatVersion)
	}
	wantType := MediaType
	switch n {
	case formatMajor:
	case 2:
		// Format 2 exists for the features a 1.x reader would misread; each is named.
		var req struct {
			Requires []string `json:"requires"`
		}
		if err := json.Unmarshal(data, &req); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrMalformed, ManifestName, err)
		}
		if err := checkRequires(head.FormatVersion, req.Requires); err != nil {
			return nil, fmt.Errorf("%s: %w", ManifestName, err)
		}
		wantType = MediaTypeV2
	default:
		return nil, fmt.Errorf("%w %.64s (this imgx reads %d.x, and 2.x requiring %s)", ErrVersion, head.FormatVersion, formatMajor, FeatureLayerRecipes)
	}
	if head.MediaType != wantType {
		return nil, fmt.Errorf("%w: %s: mediaType %.64q, want %q", ErrMalformed, ManifestName, head.MediaType, wantType)
	}
	if n == formatMajor {
		var extra struct {
			Requires []string          `json:"requires"`
			Recipes  []json.RawMessage `json:"recipes"`
		}
		if json.Unmarshal(data, &extra) == nil && (len(extra.Requires) > 0 || len(extra.Recipes) > 0) {
			return nil, fmt.Errorf("%w: %s: requires and recipes belong to format 2", ErrMalformed, ManifestName)
		}
	}
	if err := jsonlimit.Check(data, maxJSONValues); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrMalformed, ManifestName, err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrMalformed, ManifestName, err)
	}
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", ManifestName, err)
	}
	return &m, nil
}

// validate checks what can be checked without the blobs: descriptors well formed, no
// duplicates, files in the documented order, base and expects together.
func (m *Manifest) validate() error {
	if len(m.Images) == 0 {
		return malformed("no images")
	}
	seen := map[digest.Digest]string{}
	checkDesc := func(where string, d ocispec.Descriptor) error {
		if d.Digest.Validate() != nil || d.Digest.Algorithm() != digest.SHA256 {
			return malformed("%s: digest %q is not a valid sha256 digest", where, d.Digest)
		}
		if d.Size < 0 {
			return malformed("%s %s: negative size", where, d.Digest)
		}
		if d.MediaType == "" {
			return malformed("%s %s: no media type", where, d.Digest)
		}
		return nil
	}
	for i, d := range m.Blobs {
		if err := checkDesc(fmt.Sprintf("blob %d", i+1), d); err != nil {
			return err
		}
		if prev, dup := seen[d.Digest]; dup {
			return malformed("blob %s listed twice (%s and blobs)", d.Digest, prev)
		}
		seen[d.Digest] = "blobs"
	}
	for i, d := range m.Expects {
		if err := checkDesc(fmt.Sprintf("expected blob %d", i+1), d); err != nil {
			return err
		}
		if prev, dup := seen[d.Digest]; dup {
			return malformed("blob %s listed twice (%s and expects)", d.Digest, prev)
		}
		seen[d.Digest] = "expects"
	}
	if (m.Base == nil) != (m.Sequence == 0) {
		return malformed("sequence %d with base %v: a delta has both, a full bundle neither", m.Sequence, m.Base != nil)
	}
	if m.Base == nil && len(m.Expects) > 0 {
		return malformed("expects blobs but names no base bundle")
	}
	if m.Base != nil && m.Base.Digest.Validate() != nil {
		return malformed("base digest %q is invalid", m.Base.Digest)
	}
	if err := m.validateRecipes(seen); err != nil {
		return err
	}
	arts := map[[2]digest.Digest]bool{}
	for i, a := range m.Artifacts {
		if err := checkDesc(fmt.Sprintf("artifact %d", i+1), a.Descriptor); err != nil {
			return err
		}
		if !a.Kind.Valid() {
			return malformed("artifact %d: unknown kind %.32q", i+1, a.Kind)
		}
		if a.Subject.Validate() != nil || a.Subject.Algorithm() != digest.SHA256 {
			return malformed("artifact %d: subject %.80q is not a valid sha256 digest", i+1, a.Subject)
		}
		k := [2]digest.Digest{a.Subject, a.Descriptor.Digest}
		if arts[k] {
			return malformed("artifact %s of %s listed twice", a.Descriptor.Digest, a.Subject)
		}
		arts[k] = true
	}
	if len(m.Artifacts) > 0 && m.FormatVersion == FormatVersion {
		return malformed("formatVersion %s with artifacts (they need %s)", m.FormatVersion, FormatVersionArtifacts)
	}
	for i, im := range m.Images {
		if err := checkDesc(fmt.Sprintf("image %d", i+1), im.Descriptor); err != nil {
			return err
		}
		if err := im.checkNames(i + 1); err != nil {
			return err
		}
	}
	want := []string{"oci-layout", "index.json", dockerManifest}
	if len(m.Files) != len(want) {
		return malformed("files: %d entries, want %v", len(m.Files), want)
	}
	for i, f := range m.Files {
		if f.Name != want[i] {
			return malformed("files[%d] is %q, want %q", i, f.Name, want[i])
		}
		if f.Digest.Validate() != nil || f.Digest.Algorithm() != digest.SHA256 || f.Size < 0 || f.Size > maxFileSize {
			return malformed("file %s: bad digest or size", f.Name)
		}
	}
	return nil
}

// tarBound is the most tar bytes a well-formed bundle with this manifest can hold after
// the head: headers (PAX included), padding, data, end blocks, plus slack.
func (m *Manifest) tarBound(headSize int64) int64 {
	entry := func(size int64) int64 { return 3*512 + (size+511)/512*512 }
	n := headSize + 2*512 + 1<<20
	for _, f := range m.Files {
		n += entry(f.Size)
	}
	for _, b := range m.Blobs {
		n += entry(b.Size)
	}
	return n
}

// TotalSize is the sum of the sizes of the blobs the bundle carries.
func (m *Manifest) TotalSize() int64 {
	var n int64
	for _, b := range m.Blobs {
		n += b.Size
	}
	return n
}

// Tag is the familiar form of the reference load applies to the image ("app:1.2"), or ""
// for an untagged image. It is what to show: a parsed manifest's Name, if set, equals it.
func (im Image) Tag() string {
	if im.Ref == "" {
		return ""
	}
	r, err := ref.ParseNamed(im.Ref)
	if err != nil {
		return ""
	}
	return r.Familiar()
}

// checkNames makes the name shown and the tag applied one and the same: Ref, if set, is a
// normalised NAME:TAG and Name is its familiar form (or empty); without Ref, no Name. A
// bundle that shows one name and tags another (or carries terminal escapes in a name) is
// malformed, signed or not.
func (im Image) checkNames(i int) error {
	if im.Ref == "" {
		if im.Name != "" {
			return malformed("image %d: name %q without a ref: the name shown must be the tag applied", i, im.Name)
		}
		return nil
	}
	r, err := ref.ParseNamed(im.Ref)
	if err != nil {
		return malformed("image %d: ref: %v", i, err)
	}
	if r.String() != im.Ref {
		return malformed("image %d: ref %q is not normalised (want %q)", i, im.Ref, r.String())
	}
	if im.Name != "" && im.Name != r.Familiar() {
		return malformed("image %d: name %q differs from the ref %q it would be tagged as", i, im.Name, im.Ref)
	}
	return nil
}
