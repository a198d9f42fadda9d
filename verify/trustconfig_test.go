package verify

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHostileTrustMisconfiguration: trust that cannot be what the operator meant is an
// error (wrapping ErrMisconfigured), never a silent fall-back to accepting unsigned input:
// the cron job whose HOME differs, the typo in $IMGX_TRUST_DIR, the threshold without keys.
func TestHostileTrustMisconfiguration(t *testing.T) {
	_, aPub := newKey(t)
	keyFile := writeKey(t, t.TempDir(), "a.pub", aPub, 0o644)
	trust := filepath.Join(t.TempDir(), "trusted")
	os.Mkdir(trust, 0o755)
	writeKey(t, trust, "a.pub", aPub, 0o644)
	empty := t.TempDir()
	os.WriteFile(filepath.Join(empty, "README"), []byte("put keys here"), 0o644)
	missing := filepath.Join(t.TempDir(), "absent")

	tests := []struct {
		name string
		cfg  TrustConfig
		keys int    // when it must succeed
		want string // error text, "" for success
	}{
		{"explicit dir missing", TrustConfig{TrustDir: missing, TrustDirExplicit: true}, 0, "is missing"},
		{"explicit dir missing, with --key", TrustConfig{KeyFiles: []string{keyFile}, TrustDir: missing, TrustDirExplicit: true}, 0, "is missing"},
		{"explicit dir without keys", TrustConfig{TrustDir: empty, TrustDirExplicit: true}, 0, "holds no trusted key"},
		{"explicit dir is a file", TrustConfig{TrustDir: keyFile, TrustDirExplicit: true}, 0, "not a directory"},
		{"threshold 2, no keys (default dir missing)", TrustConfig{TrustDir: missing, Threshold: 2}, 0, "threshold 2 with 0"},
		{"threshold 1, no keys", TrustConfig{Threshold: 1}, 0, "threshold 1 with 0"},
		{"threshold above keys", TrustConfig{KeyFiles: []string{keyFile}, TrustDir: trust, Threshold: 2}, 0, "threshold 2 with 1"},
		{"negative threshold", TrustConfig{KeyFiles: []string{keyFile}, Threshold: -1}, 0, "threshold -1"},
		{"signature required, no keys", TrustConfig{TrustDir: missing, RequireSignature: true}, 0, "no trusted keys"},
		{"default dir missing, nothing asked", TrustConfig{TrustDir: missing}, 0, ""},
		{"explicit dir with a key", TrustConfig{TrustDir: trust, TrustDirExplicit: true, Threshold: 1}, 1, ""},
		{"key and dir, same key twice, threshold 1", TrustConfig{KeyFiles: []string{keyFile}, TrustDir: trust, Threshold: 1}, 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.cfg.Policy()
			if tt.want == "" {
				if err != nil || len(p.Keys) != tt.keys {
					t.Fatalf("Policy() = %d keys, %v", len(p.Keys), err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Policy() error %v, want it to say %q", err, tt.want)
			}
			if !errors.Is(err, ErrMisconfigured) && !errors.Is(err, ErrThreshold) {
				t.Fatalf("error %v wraps neither ErrMisconfigured nor ErrThreshold", err)
			}
		})
	}
	// The same key twice counts once: threshold 2 with it is misconfigured.
	if _, err := (TrustConfig{KeyFiles: []string{keyFile}, TrustDir: trust, Threshold: 2}).Policy(); !errors.Is(err, ErrMisconfigured) {
		t.Fatalf("one distinct key, threshold 2: %v", err)
	}
}

// TestHostileThresholdWithoutKeys: Policy.Verify itself refuses a threshold it has no keys
// for (the old behaviour was a warning and acceptance), and AcceptUnverified turns a
// refusal into a NOT VERIFIED warning but never sets Verified.
func TestHostileThresholdWithoutKeys(t *testing.T) {
	aPriv, aPub := newKey(t)
	_, bPub := newKey(t)
	msg := []byte(`{"m":1}`)
	sig := sign(t, aPriv, msg)
	if _, err := (Policy{Threshold: 2}).Verify(msg, nil); !errors.Is(err, ErrThreshold) {
		t.Fatalf("threshold 2 without keys: %v", err)
	}
	res, err := (Policy{Keys: []PublicKey{bPub}, AcceptUnverified: true}).Verify(msg, [][]byte{sig})
	if err != nil || res.Verified || !strings.HasPrefix(res.Warning, NotVerifiedPrefix) {
		t.Fatalf("opt-out: %v verified=%v warning=%q", err, res.Verified, res.Warning)
	}
	res, err = (Policy{Keys: []PublicKey{aPub}}).Verify(msg, [][]byte{sig})
	if err != nil || !res.Verified {
		t.Fatalf("trusted: %v verified=%v", err, res.Verified)
	}
	res, err = (Policy{}).Verify(msg, [][]byte{sig})
	if err != nil || res.Verified {
		t.Fatalf("no keys: %v verified=%v", err, res.Verified)
	}
}
