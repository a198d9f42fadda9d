package main

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/imgx/imgx/verify"
)

// Trust-policy and signing-key plumbing shared by load, verify, ingest, save and sign.

// policyFlags are --key, --threshold and --require-signature.
type policyFlags struct {
	keys      []string
	threshold int
	require   bool
}

func (p *policyFlags) add(fs *pflag.FlagSet) {
	fs.StringArrayVar(&p.keys, "key", nil, "trusted public key file (repeatable); adds to the trust directory")
	fs.IntVar(&p.threshold, "threshold", 0, "number of distinct trusted keys that must have signed (default 1)")
	fs.BoolVar(&p.require, "require-signature", false, "fail instead of warning when no trusted key is configured")
}

// policy combines --key files with $IMGX_TRUST_DIR (default ~/.config/imgx/trusted).
func (p *policyFlags) policy() (verify.Policy, error) {
	pol, err := verify.LoadPolicy(p.keys, verify.TrustDir())
	if err != nil {
		return pol, err
	}
	pol.Threshold = p.threshold
	pol.RequireSignature = p.require
	return pol, nil
}

// loadSigners decrypts signing keys; the password comes from IMGX_PASSWORD or a prompt.
func loadSigners(paths []string) ([]*verify.PrivateKey, error) {
	var out []*verify.PrivateKey
	for _, p := range paths {
		k, err := verify.LoadPrivateKeyFile(p, verify.PasswordFromEnvOrTerminal("", fmt.Sprintf("Enter password for %s: ", p), false))
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

// timeNow is the clock for records such as the nightly state file.
var timeNow = time.Now
