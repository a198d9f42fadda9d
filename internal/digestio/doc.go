// Package digestio verifies content-addressed data while it streams.
//
// Every read that crosses a trust boundary (a transport Load, a blob taken
// out of a bundle, a store ingest) goes through a [VerifyReader]: it stops at
// the expected size, hashes what passes through and reports, as distinct
// errors, data that ends early, data that goes on past the expected size and
// data whose digest differs. Memory use is constant whatever the blob size.
//
// [HashingWriter] and [HashingReader] compute the digest and size of data
// whose digest is not known in advance (writing a new blob).
package digestio
