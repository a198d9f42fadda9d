package bundle

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/opencontainers/go-digest"
)

// Base is what a delta bundle builds on: the identity it records and the blobs the
// receiver is known to hold once the base (and its chain) is loaded. [ReadBase] builds one
// from a bundle file; a nightly job may build one from its own state.
type Base struct {
	Ref     BaseRef
	Carried map[digest.Digest]bool
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
// of the bundles it builds on, so that a delta omits every blob the chain carried.
func ReadBase(ctx context.Context, path string) (*Base, error) {
	mb, err := readManifestFile(path)
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
		ab, err := readManifestFile(filepath.Join(dir, anc.Name))
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

// ReadHeadSigners is [ReadHead] plus the key IDs (sha256:<hex>) that the bundle's
// signature entries are named after, in order: who claims to have signed, for listings.
// Nothing here checks a signature; the names are the sender's word until [Verify] or
// [Load] has checked them against a trust policy.
func ReadHeadSigners(r io.Reader) ([]byte, *Manifest, []string, error) {
	rd, err := openReader(r)
	if err != nil {
		return nil, nil, nil, err
	}
	defer rd.Close()
	ids := []string{}
	for _, n := range rd.SignatureNames {
		ids = append(ids, "sha256:"+strings.TrimSuffix(strings.TrimPrefix(n, signaturesDir), signatureExt))
	}
	return rd.ManifestBytes, rd.Manifest, ids, nil
}

func readManifestFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	mb, _, err := ReadHead(f)
	return mb, err
}

// ReadHead reads only the head of a bundle stream: the manifest bytes (whose sha256 is the
// bundle's identity) and the parsed manifest. Signatures are not checked here; a caller
// that acts on the content must use [Load] or [Verify]. It reads a few KiB, not the blobs.
func ReadHead(r io.Reader) ([]byte, *Manifest, error) {
	mb, m, _, err := ReadHeadSignatures(r)
	return mb, m, err
}

// ReadHeadSignatures is [ReadHead] that also returns the signature documents, so that a
// caller can apply a trust policy (verify.Policy.Verify) to the head before it acts on
// anything the manifest claims (a base to wait for, the space it needs).
func ReadHeadSignatures(r io.Reader) (manifest []byte, m *Manifest, sigs [][]byte, err error) {
	rd, err := openReader(r)
	if err != nil {
		return nil, nil, nil, err
	}
	defer rd.Close()
	return rd.ManifestBytes, rd.Manifest, rd.Signatures, nil
}
