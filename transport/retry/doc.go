// Package retry wraps a transport.Backend so that transient failures (a
// dropped connection, a stalled link closed by the backend's idle timeout,
// a timeout, a 4xx FTP reply) are retried a bounded number of times with
// exponential backoff. Errors the backend calls permanent, and cancelled
// contexts, are returned at once.
//
// Retries resume rather than restart: a broken read re-opens the file at
// the byte it reached (also when the read returned data together with the
// error), and a broken upload reconnects, checks how much of the temporary
// file the server kept and continues from there, replaying from a small
// buffer of recently written bytes whatever the server lost. MaxRetries
// counts failures in a row: progress starts the count and the backoff
// again.
//
// This is imgx's one retry policy. [Do] applies it to work that is not a
// Backend call (the first connection), and [Reader] to any source that can
// re-open at an offset (registry blob downloads).
package retry
