// Package rootfs is the filesystem view of an image built from its ordered
// layers: it applies OCI whiteouts (image-spec layer.md), flattens the layers
// to one tar stream, diffs two filesystems and unpacks safely to a directory.
//
// It knows nothing about stores or manifests. Every function takes layers as
// [Opener]s returning ALREADY DECOMPRESSED tar streams, bottom layer first.
//
// # Memory and passes
//
// Memory grows with the number of paths, never with file sizes. Flatten reads
// the headers of every layer once to learn which entry holds the final version
// of each path (pass 1), then re-opens the layers bottom-up and copies only the
// surviving entries (pass 2). Openers must therefore return the same bytes each
// time they are called; a layer that changes between passes is an error.
//
// # Semantics
//
//   - `.wh.NAME` in directory D deletes D/NAME and its subtree from lower
//     layers; `.wh..wh..opq` removes everything under D that came from lower
//     layers. Entries of the same layer are kept whatever their order in the
//     tar. Other `.wh..wh.*` names (aufs metadata) are ignored.
//   - A non-directory replaces whatever was at its path; directory over
//     directory merges and the upper header wins. Duplicates: last one wins.
//   - Names are normalised ("./a/b", "/a/b", "a/b/" are all "a/b"). A leading
//     "/" is stripped as Docker does, but a name that climbs above the root
//     after cleaning is rejected ([ErrUnsafePath]). Entries for the root
//     itself are ignored. A child under a path that is not a directory (for
//     example under a symlink) is rejected as [ErrBadLayer].
//   - Hard links are rewritten to point at the path of the file they share
//     content with. If that file did not survive (deleted or replaced in a
//     later layer), the first surviving link is emitted as a regular file with
//     the original content, at the original's position in the stream (which
//     costs nothing extra), and the other links point to it.
//   - Output keeps type, mode (permission, setuid/setgid/sticky), uid/gid,
//     uname/gname, mtime, device numbers, link targets and non-standard PAX
//     records such as SCHILY.xattr.*. Access and change times are dropped.
//     Directories that only appear as parents get mode 0755, owner 0:0 and
//     mtime 0 (the epoch), so output is reproducible.
//   - Flatten's output is in layer order (each directory at its first
//     surviving incarnation), not grouped by directory: streaming needs it.
//     Extractors that set a directory's mtime when they leave it in archive
//     order (GNU tar) may leave some directory mtimes at extraction time;
//     [Unpack] sets them all at the end.
//
// # Unpack
//
// [Unpack] never follows a symlink while extracting: every operation goes
// through an [os.Root], and each parent component is checked with Lstat and
// refused if it is a symlink. Absolute names land inside the directory (the
// leading "/" is stripped, as tar does). Ownership is set only when running as
// root; character and block devices are skipped silently when they cannot be
// created for lack of privilege (not root, or no CAP_MKNOD); FIFOs are always
// created. So root keeps owners, device nodes, setuid/setgid bits and file
// capabilities, as tar and umoci do; [UnpackOptions] (NoDevices, NoSetuid)
// drops device nodes and FIFOs, and setuid/setgid bits and file capabilities,
// for images that are not trusted. Extended attributes are best effort. Directory modes and
// times are set after their contents. On error the directory may be left
// partially populated.
package rootfs
