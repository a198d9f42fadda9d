// Package store is imgx's local layer store: an OCI image layout on disk (oci-layout,
// index.json, blobs/sha256/…) that skopeo's oci: transport, umoci and crane read directly.
//
// Writes go through a [Tx]: blobs are hashed as they are written into a staging pool
// inside the store's own filesystem (.imgx/staged), verified against their expected digest
// and size, fsynced, and only on [Tx.Commit] renamed into blobs/ and tagged in index.json
// under a file lock. A blob under its final name is therefore always complete and correct,
// a rejected transaction leaves the store as it was, and a killed one leaves only staged
// files that the next transaction reuses (resume) or [Store.Prune] removes.
//
// Tags live in index.json the way skopeo reads them: org.opencontainers.image.ref.name holds
// the familiar reference ("example/hello:1.0") and io.containerd.image.name the normalised
// one ("docker.io/example/hello:1.0").
package store
