// Package bundle reads and writes imgx bundles: one tar stream (zstd-compressed by default)
// that carries images from a store, each blob once, pinned by a signed bundle manifest.
// docs/bundle-format.md is the specification; this package is its implementation.
//
// [Save] writes images from a store; [Load] reads a bundle into a store, checking the
// signatures before it stages any blob and hashing every blob as it streams, and commits
// nothing unless the whole bundle verified. [Verify] runs the same checks (and more: layer
// diff IDs) without a store and reports every problem. [SignFile] adds a signature to an
// existing bundle without touching its blobs. A delta bundle ([SaveOptions.Since]) omits
// blobs an earlier bundle carried.
//
// Save, Load and Verify take ctx first and an options struct; nothing here prints: progress
// goes through the options' progress.Progress, as in archive, transport and registry.
package bundle
