// Package transport is one small interface for every place a bundle can
// live: a local directory (a USB stick is a directory), an SFTP server, an
// FTP or FTPS server. Standard input and output are recognised by
// [ParseLocation] but handled by the caller, since a pipe is not a place.
//
// A bundle is one file, possibly many gigabytes, written as a stream that
// cannot be rewound and read as a stream. [Backend] is shaped by that:
// uploads go to a temporary name beside the target and are published by an
// atomic rename ([Upload.Commit]), so a reader never sees a partial bundle
// under its final name; reads start at any offset, so an interrupted
// download resumes where it stopped.
//
// # Temporary names
//
// An unfinished upload of dir/NAME lives in dir/.NAME.imgx-part, and its
// resume state in dir/.NAME.imgx-part.json. [Backend.List] hides both, and
// [IsTempName] tells them apart. They stay after a failed or aborted upload
// so the next run can resume; [Upload.Discard] removes them.
//
// # Resume
//
// The bundle writer is deterministic, so the bytes of a re-run are the bytes
// of the interrupted run. [Put] relies on that without downloading anything:
// it records the sha256 of the uploaded prefix at fixed checkpoints in the
// state file, and on resume hashes the caller's stream over the same prefix,
// skips what matches and appends the rest. Where the streams differ it
// rewrites from the last checkpoint that matched. [Get] resumes a download
// from the size of the local partial file.
//
// # Errors
//
// A backend wraps [fs.ErrNotExist] for a missing file and [fs.ErrExist] when
// a name is taken, so errors.Is works whatever the backend. Errors a retry
// cannot fix (authentication, host key, full disk, missing directory) are
// permanent: [Backend.IsPermanent] reports them and the transport/retry
// decorator never repeats them.
//
// Implementations live in subpackages (local, sftp, ftp); dial opens a
// [Location] with the right one; retry adds bounded retries; transporttest
// is the conformance suite every backend passes.
package transport
