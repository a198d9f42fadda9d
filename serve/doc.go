// Package serve serves an imgx store read-only over the OCI distribution API, so that
// docker, podman, skopeo, crane or containerd pull straight from it: `imgx serve`.
//
// # What is served
//
// GET and HEAD of /v2/, /v2/_catalog, /v2/NAME/tags/list, /v2/NAME/manifests/REFERENCE,
// /v2/NAME/blobs/DIGEST (with Range) and /v2/NAME/referrers/DIGEST. Every other method
// answers 405 with the spec's UNSUPPORTED error: nothing a client sends changes the store.
//
// # Names
//
// A tag in the store is served under its repository path without the registry host:
// "registry.example/team/app:1.0" as NAME "team/app", tag "1.0"; Docker Hub names lose
// "library/" too ("app:1.0", stored as docker.io/library/app:1.0, is NAME "app"), so
// `docker pull HOST:PORT/app:1.0` works for what `imgx images` shows as app:1.0. Each image
// is also served under its full name, host included ("registry.example/team/app"), when
// the host has no port (the distribution-spec name grammar has no colon). When two stored
// names lose their hosts to the same short name and tag but point at different images,
// the short form is refused (MANIFEST_UNKNOWN naming both) rather than picking one; the
// full forms still work. Untagged images belong to no repository but, like every
// manifest and blob reachable from index.json, can be fetched by digest under any
// served NAME: the store is one content pool, served as a whole.
//
// # Consistency with a live store
//
// Every request reads index.json through one open file descriptor (the store replaces it
// by an atomic rename when a load, ingest, tag or rmi commits, and writes blobs under
// their final name before the index names them), so a request sees either the old or
// the new index, never a half-committed image: a tag appears when its commit lands.
// Only what that index reaches is served. A blob is opened before any byte of the
// response is sent and served from that descriptor: if `imgx prune` removes it meanwhile,
// Linux keeps the bytes until the response ends (the next request for it gets 404).
//
// # Confinement
//
// Files are opened through an [os.Root] on the store directory, by paths built only from
// a digest that parsed ([digest.Parse]) with a supported algorithm; names and tags from
// requests are matched against the distribution-spec grammars and only ever used as map
// keys. A symbolic link in the store that leads outside it is refused by os.Root.
package serve
