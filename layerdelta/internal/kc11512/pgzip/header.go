// Copyright 2009 The Go Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

// Package pgzip is the gzip writer of github.com/klauspost/pgzip v1.2.5 over the flate of
// github.com/klauspost/compress v1.15.12 (the versions Debian 12's umoci and skopeo are
// built with), kept so that layers those tools wrote can be rebuilt bit for bit. The
// reader is left out; this file carries the declarations the writer shares with it
// (from pgzip's gunzip.go).
package pgzip

import "time"

const (
	gzipID1     = 0x1f
	gzipID2     = 0x8b
	gzipDeflate = 8
	flagExtra   = 1 << 2
	flagName    = 1 << 3
	flagComment = 1 << 4
)

// The gzip file stores a header giving metadata about the compressed file.
// That header is exposed as the fields of the Writer and Reader structs.
type Header struct {
	Comment string    // comment
	Extra   []byte    // "extra data"
	ModTime time.Time // modification time
	Name    string    // file name
	OS      byte      // operating system type
}
