// Package dial opens the backend a [transport.Location] points at, with
// the per-backend options the command line filled in, and wraps it in the
// retry decorator. It is the one place that knows every backend, so the
// transport package itself stays free of their dependencies.
package dial
