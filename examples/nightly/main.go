// Command nightly is imgx's nightly sync on its library, as a sync daemon would embed it: a
// signed delta of IMAGEs (leaving out what the state file says was shipped) goes over SFTP;
// the other end verifies the signature and loads it into its store.
//
//	IMGX_PASSWORD=… go run ./examples/nightly -from STORE -to STORE2 -state sent.json -key release.key \
//	    -pub release.pub -known-hosts F -identity F -url sftp://deploy@gw/incoming/night-42.imgx app:stable
package main

import (
	"context"
	"crypto"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/imgx/imgx/bundle"
	"github.com/imgx/imgx/store"
	"github.com/imgx/imgx/syncstate"
	"github.com/imgx/imgx/transport"
	"github.com/imgx/imgx/transport/dial"
	"github.com/imgx/imgx/transport/sftp"
	"github.com/imgx/imgx/verify"
)

var (
	from, to, state  = flag.String("from", "", "sending store"), flag.String("to", "", "receiving store"), flag.String("state", "", "sender's state file")
	keyFile, pubFile = flag.String("key", "", "signing key (password in $IMGX_PASSWORD)"), flag.String("pub", "", "public key the receiver trusts")
	url              = flag.String("url", "", "sftp://user@host[:port]/dir/NAME.imgx")
	knownHosts, id   = flag.String("known-hosts", "", "known_hosts file"), flag.String("identity", "", "SSH private key file")
)

// must ends the program on an error (an example's error handling, not a daemon's).
func must[T any](v T, err error) T {
	if err != nil {
		fmt.Fprintln(os.Stderr, "nightly:", err)
		os.Exit(1)
	}
	return v
}

func main() {
	ctx := context.Background()
	flag.Parse()
	src := must(store.OpenExisting(*from))
	var images []store.Resolved
	for _, a := range flag.Args() {
		images = append(images, must(src.Resolve(ctx, a)))
	}
	key := must(verify.LoadPrivateKeyFile(*keyFile, verify.StaticPassword([]byte(os.Getenv("IMGX_PASSWORD")))))
	ssh := sftp.Options{KnownHosts: *knownHosts, Identities: []string{*id}, SSHConfig: "none", NoAgent: true}
	b, name, err := dial.Open(ctx, must(transport.ParseLocation(*url)), dial.Options{SFTP: ssh})
	defer must(b, err).Close()

	// Sender: the delta streams into an atomic, resumable upload; the state is updated after.
	upload := func(ctx context.Context, size int64, write func(io.Writer) error) error {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(write(pw)) }() // a failed write fails the upload
		_, err := transport.Put(ctx, b, name, pr, transport.PutOptions{Size: size})
		pr.CloseWithError(err) // an upload that stopped early stops the writer too
		return err
	}
	sent := must(syncstate.Send(ctx, src, images, upload, syncstate.SendOptions{StatePath: *state, Name: name,
		Bundle: bundle.SaveOptions{Signers: []crypto.Signer{key}}}))
	if sent.Unchanged {
		fmt.Println("nothing changed since", sent.Last)
		return
	}
	fmt.Printf("sent %s: sequence %d, %d layers left out\n", name, sent.Bundle.Manifest.Sequence, len(sent.Bundle.Manifest.Expects))

	// Receiver: the signature is checked against the trusted key before any blob is stored,
	// every blob is hashed as it streams in, and the store changes only if all of it verified.
	policy := verify.Policy{Keys: []verify.PublicKey{must(verify.LoadPublicKeyFile(*pubFile))}, RequireSignature: true}
	rc := must(b.Open(ctx, name, 0))
	got := must(bundle.Load(ctx, must(store.Open(*to)), rc, bundle.LoadOptions{Policy: policy}))
	rc.Close()
	for _, im := range got.Images {
		fmt.Printf("loaded %s %s, verified by %v\n", im.Name, im.Descriptor.Digest, got.Signature.TrustedBy)
	}
}
