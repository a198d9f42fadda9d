package verify_test

import (
	"context"
	"fmt"

	"github.com/imgx/imgx/verify"
)

func Example() {
	// Once, on the release machine (the CLI reads the password from
	// $IMGX_PASSWORD or a terminal prompt instead).
	privPEM, pubPEM, _ := verify.GenerateKeyPair([]byte("release password"))

	// Signing a bundle manifest.
	key, _ := verify.LoadPrivateKey(privPEM, verify.StaticPassword([]byte("release password")))
	manifest := []byte(`{"blobs":[]}`)
	sig, _ := verify.Sign(context.Background(), key, manifest)

	// At the site, which trusts release.pub.
	pub, _ := verify.LoadPublicKey(pubPEM)
	policy := verify.Policy{Keys: []verify.PublicKey{pub}}
	res, err := policy.Verify(manifest, [][]byte{sig})
	fmt.Println(err, len(res.TrustedBy), res.TrustedBy[0] == pub.ID())

	// The same signature on a changed manifest.
	_, err = policy.Verify([]byte(`{"blobs":[1]}`), [][]byte{sig})
	fmt.Println(err != nil)
	// Output:
	// <nil> 1 true
	// true
}

// The trust directory comes from the environment the caller passes: the library reads
// none itself (the CLI passes os.Getenv).
func ExampleDefaultTrustDir() {
	env := map[string]string{"HOME": "/home/ops"}
	dir, explicit := verify.DefaultTrustDir(func(k string) string { return env[k] })
	fmt.Println(dir, explicit)

	env["IMGX_TRUST_DIR"] = "/etc/imgx/trusted"
	dir, explicit = verify.DefaultTrustDir(func(k string) string { return env[k] })
	fmt.Println(dir, explicit)
	// Output:
	// /home/ops/.config/imgx/trusted false
	// /etc/imgx/trusted true
}

// Two of two keys must sign (k-of-n): one signature is not enough.
func ExamplePolicy_Verify_threshold() {
	var keys []verify.PublicKey
	var sigs [][]byte
	payload := []byte(`{"blobs":[]}`)
	for _, pw := range []string{"release", "security"} {
		privPEM, pubPEM, _ := verify.GenerateKeyPair([]byte(pw))
		key, _ := verify.LoadPrivateKey(privPEM, verify.StaticPassword([]byte(pw)))
		sig, _ := verify.Sign(context.Background(), key, payload)
		pub, _ := verify.LoadPublicKey(pubPEM)
		keys, sigs = append(keys, pub), append(sigs, sig)
	}
	policy := verify.Policy{Keys: keys, Threshold: 2}
	_, err := policy.Verify(payload, sigs[:1])
	fmt.Println(err != nil)
	res, err := policy.Verify(payload, sigs)
	fmt.Println(err, len(res.TrustedBy))
	// Output:
	// true
	// <nil> 2
}
