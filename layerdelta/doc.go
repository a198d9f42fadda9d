// Package layerdelta ships a rebuilt container layer as a recipe over layers the receiver
// already has, and rebuilds it there bit for bit.
//
// It owns three things:
//
//   - compressor reproduction ([Reproduce]): which known compressor, level and options
//     turn a layer's uncompressed tar into exactly its compressed blob. Only an allow-list
//     of parameters is accepted ([Params.Validate]); a layer no candidate reproduces is
//     shipped whole.
//   - recipe building ([Build]): the new layer's uncompressed tar as a sequence of
//     literal bytes (tar headers, padding, new content) and copies of byte ranges of the
//     base layers' uncompressed tars, found by file content digest or by content-defined
//     chunks, whichever recipe is smaller.
//   - reconstruction ([Rebuild]): recipe + base layers → the uncompressed tar (its diff ID
//     checked) → the recompressed blob (its digest checked). The caller commits nothing
//     unless Rebuild returns nil.
//
// A recipe is hostile input until a trusted signature covers the bundle that carries it,
// and even then it is checked: its size, its number of operations and every copy range
// are bounded, and the result must hash to the digests it claims.
package layerdelta
