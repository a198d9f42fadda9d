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
