// Package dial opens the backend a [transport.Location] points at, with
// the per-backend options the command line filled in, and wraps it in the
// retry decorator. It is the one place that knows every backend, so the
// transport package itself stays free of their dependencies.
//
// On top of that it does what a program moving bundles needs from a
// location string: [OpenInput] opens one for reading (a local directory as
// such, volume sets as one file, remote reads resumed after a dropped
// connection) and [Write] uploads a stream with resume, split volumes,
// atomic publish and an optional read back; [WriteMany] does the same for several
// locations at once, the stream made once and fanned out. Standard input and output ("-")
// and everything about the terminal stay with the caller; so do secrets and
// environment variables, which come in through [Options].
package dial
