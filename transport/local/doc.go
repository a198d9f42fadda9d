// Package local stores bundles in a directory of a local filesystem, such
// as a mounted USB stick.
//
// Uploads are synced before and after the rename that publishes them (the
// file, then its directory), so a bundle that is visible survives a power
// cut. [Backend.FreeSpace] lets an upload of known size fail before it
// starts. On FAT32, whose files stop at 4 GiB, uploads are split into
// volumes NAME.001, NAME.002, ... (see [Options.SplitSize]); reading NAME or
// any of its volumes reads the set as one stream.
package local
