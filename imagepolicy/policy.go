// Package imagepolicy checks the cosign signatures and in-toto attestations that travel
// with images (store.Artifact) against an image-signature policy, offline: keys given by
// the site, no transparency log, no Fulcio certificates.
//
// A policy maps repository scopes to requirements, in the shape of containers-policy.json
// (containers-policy.json(5)): the most specific scope that matches an image's
// repository decides ("registry.example.com/team/app", then "registry.example.com/team",
// then "registry.example.com", then "*.example.com", then the transport's "" scope,
// then "default"). A scope with a sigstoreSigned requirement covers the image: a
// cosign simple-signing signature (a sha256-<hex>.sig artifact) must verify with one of
// its keys, its payload must name the image's manifest digest and, with signedIdentity
// matchRepository, the image's repository; each predicate type the requirement lists
// needs a DSSE in-toto attestation (a .att artifact) that verifies with one of the keys
// and whose statement names the image's digest. An image no scope covers is accepted,
// unless the default is reject.
//
// The policy is applied by the intake package, the trust gate, after a bundle's own
// signature policy and every blob checked, and before the store commits.
package imagepolicy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/imgx/imgx/verify"
)

// ErrRefused marks an image the policy refuses (wrapped by each *ImageError).
var ErrRefused = errors.New("image signature policy not satisfied")

// Requirement is what a scope asks of the images it covers.
type Requirement struct {
	// Reject refuses every image of the scope; AcceptAnything checks nothing.
	Reject, AcceptAnything bool
	// Keys: a signature must verify with one of them (sigstoreSigned).
	Keys []verify.PublicKey
	// MatchRepository: the signature's critical.identity.docker-reference must name the
	// image's repository.
	MatchRepository bool
	// Attestations lists in-toto predicate types that each need a verified attestation.
	Attestations []string
}

// Policy is an image-signature policy. The zero Policy covers nothing.
type Policy struct {
	// Default applies to images no scope matches; nil accepts them unchecked.
	Default *Requirement
	// Scopes maps a repository scope to its requirement.
	Scopes map[string]*Requirement
}

// Configured reports whether the policy asks anything of any image.
func (p *Policy) Configured() bool {
	return p != nil && (len(p.Scopes) > 0 || (p.Default != nil && !p.Default.AcceptAnything))
}

// For returns the requirement for an image of repository repo (normalised, as
// "registry.example.com/team/app"; "" for an image without a name) and the scope that
// gave it, or nil when the policy does not cover the image.
func (p *Policy) For(repo string) (*Requirement, string) {
	if p == nil {
		return nil, ""
	}
	if repo != "" {
		for s := repo; s != ""; {
			if r, ok := p.Scopes[s]; ok {
				return r, s
			}
			i := strings.LastIndexByte(s, '/')
			if i < 0 {
				break
			}
			s = s[:i]
		}
		host, _, _ := strings.Cut(repo, "/")
		for h := host; ; {
			i := strings.IndexByte(h, '.')
			if i < 0 {
				break
			}
			h = h[i+1:]
			if r, ok := p.Scopes["*."+h]; ok {
				return r, "*." + h
			}
		}
	}
	if r, ok := p.Scopes[""]; ok {
		return r, `""`
	}
	if p.Default != nil {
		return p.Default, "default"
	}
	return nil, ""
}

// PredicateType expands cosign's short attestation types (--type spdxjson) to the
// in-toto predicate type cosign writes; anything else is returned as it is.
func PredicateType(s string) string {
	switch strings.ToLower(s) {
	case "spdx", "spdxjson":
		return "https://spdx.dev/Document"
	case "cyclonedx":
		return "https://cyclonedx.org/bom"
	case "slsaprovenance", "slsaprovenance02":
		return "https://slsa.dev/provenance/v0.2"
	case "slsaprovenance1":
		return "https://slsa.dev/provenance/v1"
	case "link":
		return "https://in-toto.io/Link/v1"
	case "vuln":
		return "https://cosign.sigstore.dev/attestation/vuln/v1"
	case "custom":
		return "https://cosign.sigstore.dev/attestation/v1"
	}
	return s
}

// AddKey adds a --image-key SCOPE=KEYFILE rule: images of SCOPE need a signature by the
// key in KEYFILE (several keys for one scope: any of them). "*" is the scope of every
// image.
func (p *Policy) AddKey(spec string) error {
	scope, file, ok := strings.Cut(spec, "=")
	if !ok || file == "" {
		return fmt.Errorf("image key %q: want REPOSITORY_SCOPE=KEYFILE", spec)
	}
	scope = normScope(scope)
	k, err := verify.LoadPublicKeyFile(file)
	if err != nil {
		return fmt.Errorf("image key %s: %w", scope, err)
	}
	if p.Scopes == nil {
		p.Scopes = map[string]*Requirement{}
	}
	r := p.Scopes[scope]
	if r == nil {
		r = &Requirement{}
		p.Scopes[scope] = r
	}
	r.Keys = append(r.Keys, k)
	return nil
}

// RequireAttestation makes every scope with keys also require an attestation of the
// predicate type (cosign's short names such as spdxjson are expanded).
func (p *Policy) RequireAttestation(predicateType string) {
	for _, r := range p.Scopes {
		if len(r.Keys) > 0 {
			r.Attestations = append(r.Attestations, PredicateType(predicateType))
		}
	}
}

// normScope turns a scope as written into the form For compares: "*" is "", and a scope
// whose first component is not a registry host gains docker.io, as Docker names do
// ("library/debian" is docker.io/library/debian), so that it matches the names imgx
// stores. A host is a first component with a dot or a port, or localhost.
func normScope(s string) string {
	if s == "*" {
		return ""
	}
	s = strings.TrimSuffix(s, "/")
	first, _, hasPath := strings.Cut(s, "/")
	if hasPath && !strings.ContainsAny(first, ".:") && first != "localhost" {
		return "docker.io/" + s
	}
	return s
}

// policyFile is the subset of containers-policy.json imgx reads, plus "attestations".
type policyFile struct {
	Default    []requirementJSON                       `json:"default"`
	Transports map[string]map[string][]requirementJSON `json:"transports"`
}

type requirementJSON struct {
	Type           string   `json:"type"`
	KeyPath        string   `json:"keyPath"`
	KeyPaths       []string `json:"keyPaths"`
	KeyData        string   `json:"keyData"`
	SignedIdentity *struct {
		Type string `json:"type"`
	} `json:"signedIdentity"`
	Attestations []struct {
		PredicateType string `json:"predicateType"`
	} `json:"attestations"`
}

// LoadFile reads a policy file: containers-policy.json's shape, of which imgx reads
// "default" and transports."docker" (other transports are ignored), with requirement
// types insecureAcceptAnything, reject and sigstoreSigned (keyPath, keyPaths or keyData;
// signedIdentity matchRepository or, by default, none; and imgx's "attestations": a list
// of {"predicateType": …}). Key paths are relative to the file's directory. Anything
// else (another requirement type, a Fulcio or Rekor setting) is an error: imgx does not
// quietly check less than the file says.
func LoadFile(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("image policy: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f policyFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("image policy %s: %w", path, err)
	}
	p := &Policy{Scopes: map[string]*Requirement{}}
	dir := filepath.Dir(path)
	if len(f.Default) > 0 {
		if p.Default, err = requirement(dir, f.Default); err != nil {
			return nil, fmt.Errorf("image policy %s: default: %w", path, err)
		}
	}
	for scope, reqs := range f.Transports["docker"] {
		r, err := requirement(dir, reqs)
		if err != nil {
			return nil, fmt.Errorf("image policy %s: scope %q: %w", path, scope, err)
		}
		p.Scopes[normScope(scope)] = r
	}
	return p, nil
}

func requirement(dir string, reqs []requirementJSON) (*Requirement, error) {
	if len(reqs) != 1 {
		return nil, fmt.Errorf("%d requirements: imgx reads exactly one per scope", len(reqs))
	}
	q := reqs[0]
	r := &Requirement{}
	switch q.Type {
	case "insecureAcceptAnything":
		r.AcceptAnything = true
		return r, nil
	case "reject":
		r.Reject = true
		return r, nil
	case "sigstoreSigned":
	default:
		return nil, fmt.Errorf("requirement type %q: imgx reads insecureAcceptAnything, reject and sigstoreSigned", q.Type)
	}
	paths := append([]string{}, q.KeyPaths...)
	if q.KeyPath != "" {
		paths = append(paths, q.KeyPath)
	}
	for _, kp := range paths {
		if !filepath.IsAbs(kp) {
			kp = filepath.Join(dir, kp)
		}
		k, err := verify.LoadPublicKeyFile(kp)
		if err != nil {
			return nil, err
		}
		r.Keys = append(r.Keys, k)
	}
	if q.KeyData != "" {
		k, err := verify.LoadPublicKey(decodeKeyData(q.KeyData))
		if err != nil {
			return nil, fmt.Errorf("keyData: %w", err)
		}
		r.Keys = append(r.Keys, k)
	}
	if len(r.Keys) == 0 {
		return nil, errors.New("sigstoreSigned without keyPath, keyPaths or keyData")
	}
	if q.SignedIdentity != nil {
		switch q.SignedIdentity.Type {
		case "matchRepository":
			r.MatchRepository = true
		default:
			return nil, fmt.Errorf("signedIdentity %q: imgx reads matchRepository", q.SignedIdentity.Type)
		}
	}
	for _, a := range q.Attestations {
		if a.PredicateType == "" {
			return nil, errors.New("attestation without predicateType")
		}
		r.Attestations = append(r.Attestations, PredicateType(a.PredicateType))
	}
	return r, nil
}

// decodeKeyData accepts keyData as containers-policy.json has it (base64 of the PEM) or
// as PEM text.
func decodeKeyData(s string) []byte {
	if strings.Contains(s, "-----BEGIN") {
		return []byte(s)
	}
	if b, err := base64Decode(s); err == nil {
		return b
	}
	return []byte(s)
}

// Describe lists the scopes and their keys, for messages.
func (p *Policy) Describe() []string {
	var out []string
	for scope, r := range p.Scopes {
		name := scope
		if name == "" {
			name = "*"
		}
		switch {
		case r.Reject:
			out = append(out, name+": reject")
		case r.AcceptAnything:
			out = append(out, name+": accept anything")
		default:
			ids := make([]string, len(r.Keys))
			for i, k := range r.Keys {
				ids[i] = k.ID()
			}
			out = append(out, fmt.Sprintf("%s: signed by %s", name, strings.Join(ids, " or ")))
		}
	}
	sort.Strings(out)
	return out
}
