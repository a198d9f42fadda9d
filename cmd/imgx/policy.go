package main

import (
	"fmt"
	"os"
	"time"

	"filippo.io/age"
	"github.com/spf13/pflag"

	"github.com/imgx/imgx/imagepolicy"
	"github.com/imgx/imgx/verify"
)

// Trust-policy and signing-key plumbing shared by load, verify, ingest, save and sign.

// policyFlags are --key, --threshold, --require-signature and, where input is loaded,
// --insecure-accept-unsigned.
type policyFlags struct {
	keys      []string
	threshold int
	require   bool
	insecure  bool

	imageKeys   []string // --image-key SCOPE=KEYFILE
	imagePolicy string   // --image-policy FILE
	imageAttest []string // --image-attestation TYPE
}

// addImage registers the image-signature policy flags (load, verify, ingest).
func (p *policyFlags) addImage(fs *pflag.FlagSet) {
	fs.StringArrayVar(&p.imageKeys, "image-key", nil, "images of repository SCOPE must carry a cosign signature by KEYFILE: SCOPE=KEYFILE, SCOPE a repository, a namespace or * (repeatable)")
	fs.StringVar(&p.imagePolicy, "image-policy", "", "image-signature policy FILE (containers-policy.json shape, sigstoreSigned requirements)")
	fs.StringArrayVar(&p.imageAttest, "image-attestation", nil, "with --image-key: images must also carry a signed attestation of this predicate type (spdxjson, cyclonedx, slsaprovenance or a URL; repeatable)")
}

// images builds the image-signature policy from --image-policy and --image-key, or nil.
func (p *policyFlags) images() (*imagepolicy.Policy, error) {
	if p.imagePolicy == "" && len(p.imageKeys) == 0 {
		if len(p.imageAttest) > 0 {
			return nil, usagef("--image-attestation needs --image-key")
		}
		return nil, nil
	}
	pol := &imagepolicy.Policy{}
	if p.imagePolicy != "" {
		var err error
		if pol, err = imagepolicy.LoadFile(p.imagePolicy); err != nil {
			return nil, err
		}
	}
	for _, k := range p.imageKeys {
		if err := pol.AddKey(k); err != nil {
			return nil, err
		}
	}
	for _, a := range p.imageAttest {
		pol.RequireAttestation(a)
	}
	return pol, nil
}

// add registers the policy flags; accept adds --insecure-accept-unsigned (load, ingest).
func (p *policyFlags) add(fs *pflag.FlagSet, accept bool) {
	fs.StringArrayVar(&p.keys, "key", nil, "trusted public key file (repeatable); adds to the trust directory")
	fs.Var(newIntRange(&p.threshold, 0, 0), "threshold", "number of distinct trusted keys that must have signed (default 1)")
	fs.BoolVar(&p.require, "require-signature", false, "refuse everything unless a trusted key is configured and has signed")
	if accept {
		fs.BoolVar(&p.insecure, "insecure-accept-unsigned", false, "with trust configured, still accept input no trusted signature covers (unsigned bundles, docker/OCI archives and layouts), with a NOT VERIFIED warning")
	}
}

// policy combines --key files with the trust directory ($IMGX_TRUST_DIR, else
// ~/.config/imgx/trusted). Misconfigured trust is an error: $IMGX_TRUST_DIR missing or
// without keys, a threshold above the keys found, a required signature without keys.
func (p *policyFlags) policy() (verify.Policy, error) {
	dir, explicit := verify.DefaultTrustDir(os.Getenv)
	pol, err := verify.TrustConfig{
		KeyFiles: p.keys, TrustDir: dir, TrustDirExplicit: explicit,
		Threshold: p.threshold, RequireSignature: p.require, AcceptUnverified: p.insecure,
	}.Policy()
	if err != nil {
		return pol, withHint(err, "trusted keys come from --key FILE and the *.pub files in $IMGX_TRUST_DIR (default ~/.config/imgx/trusted/)")
	}
	return pol, nil
}

// loadSigners decrypts signing keys; the password comes from IMGX_PASSWORD or a prompt.
func loadSigners(paths []string) ([]*verify.PrivateKey, error) {
	var out []*verify.PrivateKey
	for _, p := range paths {
		k, err := verify.LoadPrivateKeyFile(p, keyPassword(fmt.Sprintf("Enter password for %s: ", p), false))
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

// timeNow is the clock for records such as the nightly state file.
var timeNow = time.Now

// inputTrust reads what load and ingest check an input against: the bundle-signature
// policy, the image-signature policy, and the identities that decrypt it.
func inputTrust(p *policyFlags, d *decryptFlags) (verify.Policy, *imagepolicy.Policy, []age.Identity, error) {
	pol, err := p.policy()
	if err != nil {
		return verify.Policy{}, nil, nil, err
	}
	ipol, err := p.images()
	if err != nil {
		return verify.Policy{}, nil, nil, err
	}
	ids, err := d.identities()
	return pol, ipol, ids, err
}
