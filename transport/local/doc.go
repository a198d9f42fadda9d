// Package local stores bundles in a directory of a local filesystem, such
// as a mounted USB stick.
//
// Uploads are synced before and after the rename that publishes them (the
// file, then its directory), so a bundle that is visible survives a power
// cut. [Backend.FreeSpace] lets an upload of known size fail before it
// starts. On FAT32, whose files stop at 4 GiB, uploads are split into
// volumes NAME.001, NAME.002, ... (see [Options.SplitSize]); reading NAME or
// any of its volumes reads the set as one stream.
//
// The directory is a carrier someone else may have written: every operation goes
// through an os.Root, the last element of a name is never followed when it is a
// link, special files are neither opened nor listed, a volume index may only name
// the set's own volumes, and temporary and state files are created fresh
// (O_EXCL|O_NOFOLLOW) or refused. See root.go and docs/security.md.
package local
