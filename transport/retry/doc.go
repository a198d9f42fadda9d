// Package retry wraps a transport.Backend so that transient failures (a
// dropped connection, a timeout, a 4xx FTP reply) are retried a bounded
// number of times with exponential backoff. Errors the backend calls
// permanent, and cancelled contexts, are returned at once.
//
// Retries resume rather than restart: a broken read re-opens the file at
// the byte it reached, and a broken upload reconnects, checks how much of
// the temporary file the server kept and continues from there, replaying
// from a small buffer of recently written bytes whatever the server lost.
package retry
