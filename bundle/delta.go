package bundle

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/seal"
)

// Base is what a delta bundle builds on: the identity it records and the blobs the
// receiver is known to hold once the base (and its chain) is loaded. [ReadBase] builds one
// from a bundle file; a nightly job may build one from its own state.
type Base struct {
	Ref     BaseRef
	Carried map[digest.Digest]bool
	// Images maps each normalised reference the base carried to its image descriptor:
	// the previous image of a name, whose layers are the candidate bases of layer
	// recipes ([SaveOptions].LayerRecipes). May be nil.
	Images map[string]ocispec.Descriptor
}

// BaseFromManifest makes a Base from a bundle's manifest bytes; name is a file name hint.
func BaseFromManifest(mbytes []byte, name string) (*Base, *Manifest, error) {
	m, err := ParseManifest(mbytes)
	if err != nil {
		return nil, nil, err
	}
	b := &Base{
		Ref:     BaseRef{Digest: digest.FromBytes(mbytes), Sequence: m.Sequence, Name: name},
		Carried: map[digest.Digest]bool{},
		Images:  map[string]ocispec.Descriptor{},
	}
	for _, im := range m.Images {
		if im.Ref != "" {
			b.Images[im.Ref] = im.Descriptor
		}
	}
	// A recipe's layer was rebuilt at the receiver: it holds it like a carried one.
	for _, r := range m.Recipes {
		b.Carried[r.Layer.Digest] = true
	}
	for _, d := range m.Blobs {
		b.Carried[d.Digest] = true
	}
	// The receiver had the expected blobs before loading the base, so it still has them.
	for _, d := range m.Expects {
		b.Carried[d.Digest] = true
	}
	if m.Base != nil {
		first := *m.Base
		first.Chain = nil
		b.Ref.Chain = append([]BaseRef{first}, m.Base.Chain...)
	}
	return b, m, nil
}

// ReadBase reads the manifest of the bundle at path (only its head, not its blobs) and,
// where they sit in the same directory under the names the chain records, the manifests
// of the bundles it builds on, so that a delta omits every blob the chain carried. It
// takes a path, not a reader, because the chain is found beside the file; the head of
// one stream is [ReadHead].
func ReadBase(ctx context.Context, path string) (*Base, error) {
	mb, err := readManifestFile(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("base bundle %s: %w", path, err)
	}
	b, _, err := BaseFromManifest(mb, filepath.Base(path))
	if err != nil {
		return nil, fmt.Errorf("base bundle %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	for _, anc := range b.Ref.Chain {
		if anc.Name == "" || anc.Name != filepath.Base(anc.Name) {
			continue
		}
		ab, err := readManifestFile(ctx, filepath.Join(dir, anc.Name))
		if err != nil || digest.FromBytes(ab) != anc.Digest {
			continue // not reachable: its blobs are still excluded if the base expected them
		}
		ancBase, _, err := BaseFromManifest(ab, anc.Name)
		if err != nil {
			continue
		}
		for d := range ancBase.Carried {
			b.Carried[d] = true
		}
	}
	return b, nil
}

func readManifestFile(ctx context.Context, path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	if p, _ := br.Peek(seal.PeekSize); seal.IsEncrypted(p) {
		// A sender holds recipients, not identities: it can never read its own
		// encrypted bundles, so say so rather than "not a bundle".
		return nil, fmt.Errorf("%w (a sender cannot read an encrypted base: make deltas with --since-state, whose state file keeps what the base carried, or give an unencrypted copy)", seal.ErrEncrypted)
	}
	h, err := ReadHead(ctx, br)
	if err != nil {
		return nil, err
	}
	return h.ManifestBytes, nil
}

// Head is the start of a bundle stream: the manifest and its signatures. Nothing in it
// is checked: it is the sender's word until a trust policy accepts the signatures.
type Head struct {
	ManifestBytes []byte // whose sha256 is the bundle's identity
	Manifest      *Manifest
	// Signatures are the signature documents, for verify.Policy.Verify: a caller that
	// acts on what the manifest claims (a base to wait for, the space it needs) checks
	// them first.
	Signatures [][]byte
	// SignerIDs are the key IDs (sha256:<hex>) the signature entries are named after, in
	// order: who claims to have signed, for listings.
	SignerIDs []string
}

// ReadHead reads only the head of a bundle stream: the manifest bytes (whose sha256 is
// the bundle's identity), the parsed manifest and the signatures. Signatures are not
// checked here; a caller that acts on the content must use [Load] or [Verify]. It reads
// a few KiB, not the blobs.
func ReadHead(ctx context.Context, r io.Reader) (*Head, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rd, err := openReader(r)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	h := &Head{ManifestBytes: rd.ManifestBytes, Manifest: rd.Manifest, Signatures: rd.Signatures, SignerIDs: []string{}}
	for _, n := range rd.SignatureNames {
		h.SignerIDs = append(h.SignerIDs, "sha256:"+strings.TrimSuffix(strings.TrimPrefix(n, signaturesDir), signatureExt))
	}
	return h, nil
}
