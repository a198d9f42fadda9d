// Package registry moves images between a distribution (Docker/OCI) registry and imgx's
// store: [Pull] copies an image or index into the store, verifying every byte before the
// store commits it; [Pusher] copies images from the store to a registry with their digests
// unchanged, skipping blobs the registry has and mounting blobs it holds in another
// repository.
//
// The distribution protocol itself is go-containerregistry's (remote and transport
// packages); this package adds what imgx needs around it: the store as source and sink,
// credentials from the Docker config, HTTPS unless plain HTTP is allowed, resumable blob
// downloads with bounded retries, per-blob accounting and errors that say what to do.
package registry
