// Package archive reads and writes the image archives other tools make: docker-archive (as
// written by `docker save` before and after Docker 25, and by skopeo and podman), oci-archive
// (an OCI image layout in a tar) and OCI layout directories.
//
// Loading streams: a tar is read once, front to back, from a file or a pipe. Because a
// docker-archive names its images in manifest.json, which legacy `docker save` writes last,
// every file entry is staged in the store as a blob keyed by its sha256 while it streams;
// only when the end is reached are the images built from the metadata, checked (every blob
// present, sizes and digests as described, uncompressed layers matching the config's
// diff_ids) and committed in one step. A rejected archive leaves the store as it was.
//
// Saving writes each blob once however many images share it, in one pass with constant
// memory, metadata first so that streaming readers can detect the format early.
//
// The exact layouts written and accepted are described in docs/archive-formats.md.
package archive
