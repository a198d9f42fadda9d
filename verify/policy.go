package verify

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/opencontainers/go-digest"
)

// TrustDirEnv names the variable holding the directory of trusted public keys (see
// [DefaultTrustDir]).
const TrustDirEnv = "IMGX_TRUST_DIR"

// UnverifiedWarning is Result.Warning when no key is configured.
const UnverifiedWarning = "bundle is not verified by any trusted key"

// NotVerifiedPrefix starts Result.Warning when a policy with AcceptUnverified let through
// a manifest that its keys did not verify.
const NotVerifiedPrefix = "NOT VERIFIED: "

// Policy decides whether a bundle manifest's signatures are enough.
type Policy struct {
	// Keys are the trusted public keys; duplicates count once.
	Keys []PublicKey
	// Threshold is how many distinct trusted keys must have signed; 0
	// means 1. It applies only when Keys is not empty.
	Threshold int
	// RequireSignature makes an empty Keys an error instead of a warning.
	RequireSignature bool
	// AcceptUnverified turns a manifest the policy refuses (unsigned, untrusted signer,
	// bad signature, threshold not met) into a Result with a Warning starting with
	// NotVerifiedPrefix instead of an error. It is the explicit, insecure opt-out (the
	// CLI's --insecure-accept-unsigned); a misconfigured policy (see [Policy.Check])
	// still fails.
	AcceptUnverified bool
}

// Configured reports whether any trust is configured: a key, a threshold or a required
// signature. With trust configured, only input whose signatures satisfy the policy may be
// accepted (unless AcceptUnverified).
func (p Policy) Configured() bool {
	return len(p.Keys) > 0 || p.Threshold != 0 || p.RequireSignature
}

// Check reports a policy that no signature could satisfy or that asks for something it
// cannot check: a negative threshold, a threshold above the number of distinct trusted
// keys (zero keys included), or a required signature without any trusted key. Such a
// policy is a configuration mistake (a trust directory that is not where the user thinks,
// a key file forgotten), and it is an error rather than a reason to accept unsigned input.
func (p Policy) Check() error {
	ids := map[string]bool{}
	for _, k := range p.Keys {
		if k.IsZero() {
			return errors.New("policy: zero PublicKey in Keys")
		}
		ids[k.ID()] = true
	}
	switch {
	case p.Threshold < 0:
		return fmt.Errorf("policy: threshold %d: %w", p.Threshold, ErrThreshold)
	case p.Threshold > len(ids):
		return fmt.Errorf("policy: threshold %d with %d distinct trusted key(s) found: %w", p.Threshold, len(ids), ErrMisconfigured)
	case p.RequireSignature && len(ids) == 0:
		return fmt.Errorf("policy: a signature is required but %w: %w", ErrNoTrustedKeys, ErrMisconfigured)
	}
	return nil
}

// Signer describes one signature given to Verify.
type Signer struct {
	Index   int    // from 1, in the order given
	KeyID   string // "sha256:<hex>" from the hint; "" if the bundle had none
	KeyName string // where the trusted key came from, "" if untrusted
	Trusted bool   // the key is in the policy
	Valid   bool   // trusted, over this manifest, and the signature verified
	Err     error  // why it is not valid (a *SignatureError); nil if Valid
}

// Result is what Verify found, returned even with an error.
type Result struct {
	Digest    digest.Digest // recomputed SHA-256 of the manifest
	Signers   []Signer
	TrustedBy []string // distinct trusted key IDs with a valid signature, sorted
	Threshold int      // effective threshold (0 when no keys are configured)
	Warning   string   // set when the manifest passes without being verified, or some signatures failed
	// Verified is true only when trusted keys are configured and at least Threshold of
	// them signed this manifest. A Result with Verified false never means the input was
	// checked against a key.
	Verified bool
}

// Verify checks sigs (Sigstore bundle JSON documents) over message (the
// bundle manifest bytes) against the policy. See the package comment for the
// rules. The error is a *VerifyError listing every signature's problem.
func (p Policy) Verify(message []byte, sigs [][]byte) (Result, error) {
	sum := sha256.Sum256(message)
	res := Result{Digest: digest.NewDigestFromBytes(digest.SHA256, sum[:])}

	trusted := map[string]PublicKey{}
	for _, k := range p.Keys {
		if k.IsZero() {
			return res, errors.New("policy: zero PublicKey in Keys")
		}
		trusted[k.ID()] = k
	}
	threshold := p.Threshold
	if threshold == 0 {
		threshold = 1
	}
	if len(trusted) > 0 {
		res.Threshold = threshold
	}
	if threshold < 0 || p.Threshold > len(trusted) {
		return res, fmt.Errorf("policy: threshold %d with %d distinct trusted key(s): %w", p.Threshold, len(trusted), ErrThreshold)
	}

	valid := map[string]bool{}
	var problems []error
	for i, raw := range sigs {
		s := checkOne(i+1, raw, sum[:], trusted)
		res.Signers = append(res.Signers, s)
		if s.Valid {
			valid[s.KeyID] = true
		} else {
			problems = append(problems, s.Err)
		}
	}
	for id := range valid {
		res.TrustedBy = append(res.TrustedBy, id)
	}
	sort.Strings(res.TrustedBy)

	fail := func(reason error) (Result, error) {
		err := &VerifyError{Digest: res.Digest, Reason: reason, Valid: len(valid), Threshold: threshold, Problems: problems}
		if p.AcceptUnverified && !errors.Is(reason, ErrNoTrustedKeys) {
			res.Warning = NotVerifiedPrefix + err.Error() + " (accepted: unverified input explicitly allowed)"
			return res, nil
		}
		return res, err
	}
	switch {
	case len(trusted) == 0 && p.RequireSignature:
		return fail(ErrNoTrustedKeys)
	case len(trusted) == 0:
		res.Warning = UnverifiedWarning
		return res, nil
	case len(sigs) == 0:
		return fail(ErrUnsigned)
	case len(valid) == 0:
		return fail(ErrNoValidSignature)
	case len(valid) < threshold:
		return fail(ErrThreshold)
	}
	res.Verified = true
	if len(problems) > 0 {
		res.Warning = fmt.Sprintf("%d of %d signature(s) did not verify", len(problems), len(sigs))
	}
	return res, nil
}

// checkOne verifies one signature document. Order matters: the digest the
// bundle states is compared with our own before any key is used, and the
// key comes from the policy, chosen by hint, never from the bundle.
func checkOne(index int, raw, sum []byte, trusted map[string]PublicKey) Signer {
	s := Signer{Index: index}
	fail := func(err error) Signer {
		s.Err = &SignatureError{Index: index, KeyID: s.KeyID, Err: err}
		return s
	}
	sig, err := ParseSignature(raw)
	if err != nil {
		return fail(err)
	}
	s.KeyID = sig.KeyID()
	var key PublicKey
	if sig.Hint != "" {
		k, ok := trusted[s.KeyID]
		if !ok {
			return fail(ErrUntrustedSigner)
		}
		key = k
	}
	s.Trusted = !key.IsZero()
	if string(sig.Digest) != string(sum) {
		return fail(fmt.Errorf("%w: signed sha256:%x, manifest is sha256:%x", ErrDigestMismatch, sig.Digest, sum))
	}
	if key.IsZero() {
		// No hint: the signature itself must pick out a trusted key.
		for _, k := range sortedKeys(trusted) {
			if verifyWith(k, sum, sig.Signature) == nil {
				key = k
				break
			}
		}
		if key.IsZero() {
			return fail(fmt.Errorf("%w: no key hint and no trusted key verifies it", ErrUntrustedSigner))
		}
		s.KeyID, s.Trusted = key.ID(), true
	} else if err := verifyWith(key, sum, sig.Signature); err != nil {
		return fail(err)
	}
	s.KeyName = key.Name
	s.Valid = true
	return s
}

func sortedKeys(m map[string]PublicKey) []PublicKey {
	keys := make([]PublicKey, 0, len(m))
	for _, k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].ID() < keys[j].ID() })
	return keys
}

// DefaultTrustDir is the directory of trusted keys: $IMGX_TRUST_DIR (then explicit is
// true: the user chose it), else ${XDG_CONFIG_HOME:-$HOME/.config}/imgx/trusted, else ""
// when none of these is set. getenv looks the variables up (the command line passes the
// process environment's); the library reads no environment itself.
func DefaultTrustDir(getenv func(string) string) (dir string, explicit bool) {
	if d := getenv(TrustDirEnv); d != "" {
		return d, true
	}
	cfg := getenv("XDG_CONFIG_HOME")
	if cfg == "" {
		home := getenv("HOME")
		if home == "" {
			return "", false
		}
		cfg = filepath.Join(home, ".config")
	}
	return filepath.Join(cfg, "imgx", "trusted"), false
}

// TrustConfig is where a policy comes from: key files (the CLI's --key), the trust
// directory, and the policy settings.
type TrustConfig struct {
	KeyFiles []string
	// TrustDir holds trusted *.pub keys ("" for none). TrustDirExplicit says the user
	// named it ($IMGX_TRUST_DIR): then a missing directory, or one without any key, is an
	// error instead of adding no keys, so that a typo or a cron job with another HOME does
	// not silently turn verification off.
	TrustDir         string
	TrustDirExplicit bool
	Threshold        int
	RequireSignature bool
	AcceptUnverified bool
}

// Policy loads the keys and returns the policy, or an error wrapping ErrMisconfigured when
// the configuration cannot be what the user meant (see [Policy.Check]).
func (c TrustConfig) Policy() (Policy, error) {
	if c.TrustDirExplicit && c.TrustDir != "" {
		fi, err := os.Stat(c.TrustDir)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return Policy{}, fmt.Errorf("trust dir %s (from $%s) is missing: %w", c.TrustDir, TrustDirEnv, ErrMisconfigured)
		case err != nil:
			return Policy{}, fmt.Errorf("trust dir: %w", err)
		case !fi.IsDir():
			return Policy{}, fmt.Errorf("trust dir %s (from $%s): not a directory: %w", c.TrustDir, TrustDirEnv, ErrMisconfigured)
		}
	}
	p, err := LoadPolicy(c.KeyFiles, c.TrustDir)
	if err != nil {
		return Policy{}, err
	}
	if c.TrustDirExplicit && c.TrustDir != "" && len(p.Keys) == len(c.KeyFiles) {
		return Policy{}, fmt.Errorf("trust dir %s (from $%s) holds no trusted key (*.pub): %w", c.TrustDir, TrustDirEnv, ErrMisconfigured)
	}
	p.Threshold, p.RequireSignature, p.AcceptUnverified = c.Threshold, c.RequireSignature, c.AcceptUnverified
	if err := p.Check(); err != nil {
		where := "no --key given"
		if len(c.KeyFiles) > 0 {
			where = fmt.Sprintf("%d --key file(s)", len(c.KeyFiles))
		}
		if c.TrustDir != "" {
			where += fmt.Sprintf(", trust dir %s", c.TrustDir)
			if _, serr := os.Stat(c.TrustDir); serr != nil {
				where += " (missing)"
			}
		} else {
			where += ", no trust dir"
		}
		return Policy{}, fmt.Errorf("%w (looked at: %s)", err, where)
	}
	return p, nil
}

// LoadPolicy builds a policy from public key files (the CLI's --key) and
// every *.pub file in trustDir (usually [DefaultTrustDir]; "" for none). A missing
// trustDir adds no keys; an unreadable or malformed key file is an error, as
// is a trust directory or key file that other users can write.
func LoadPolicy(keyFiles []string, trustDir string) (Policy, error) {
	var p Policy
	for _, f := range keyFiles {
		k, err := LoadPublicKeyFile(f)
		if err != nil {
			return Policy{}, err
		}
		p.Keys = append(p.Keys, k)
	}
	if trustDir == "" {
		return p, nil
	}
	fi, err := os.Stat(trustDir)
	if errors.Is(err, fs.ErrNotExist) {
		return p, nil
	}
	if err != nil {
		return Policy{}, fmt.Errorf("trust dir: %w", err)
	}
	if !fi.IsDir() {
		return Policy{}, fmt.Errorf("trust dir %s: not a directory", trustDir)
	}
	if err := checkNotWorldWritable(trustDir, fi); err != nil {
		return Policy{}, err
	}
	entries, err := os.ReadDir(trustDir)
	if err != nil {
		return Policy{}, fmt.Errorf("trust dir: %w", err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".pub") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		path := filepath.Join(trustDir, e.Name())
		fi, err := os.Stat(path) // follows symlinks, as the key is read through them
		if err != nil {
			return Policy{}, fmt.Errorf("trusted key: %w", err)
		}
		if fi.IsDir() {
			continue
		}
		if err := checkNotWorldWritable(path, fi); err != nil {
			return Policy{}, err
		}
		k, err := LoadPublicKeyFile(path)
		if err != nil {
			return Policy{}, fmt.Errorf("trust dir: %w", err)
		}
		p.Keys = append(p.Keys, k)
	}
	return p, nil
}

// checkNotWorldWritable: anyone who can write the trust dir can make imgx
// trust their key.
func checkNotWorldWritable(path string, fi fs.FileInfo) error {
	if fi.Mode().Perm()&0o002 != 0 {
		return fmt.Errorf("trust dir: %s is writable by any user (mode %v): refusing to trust keys from it", path, fi.Mode().Perm())
	}
	return nil
}
