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
// one ("docker.io/example/hello:1.0"). When reading entries other tools wrote, ref.name
// decides: the containerd name is used only when ref.name is missing or agrees with it
// (containerd writes ref.name "1.0" with "docker.io/library/app:1.0"). umoci's config
// --tag and repack change ref.name and copy a stale containerd name, so a disagreeing
// ref.name is read as written, normalised as Docker would ("build-413" is
// build-413:latest), the same string skopeo and umoci use for it.
//
// # The content graph
//
// One walker follows the graph from index.json through indexes and manifests to configs
// and layers ([Store.Walk]); commit, prune, rmi and check all use it. What it does with a
// manifest or index it cannot read is explicit ([OnUnreadable]): check reports and goes on;
// commit, prune and rmi fail, because the unknown children may be in use. [Store.Prune]
// and [Store.Remove] read the whole graph before they change anything, and change nothing
// (error wrapping [ErrIncomplete]) if any part of it is unreadable.
package store
