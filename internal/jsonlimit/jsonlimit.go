// Package jsonlimit bounds the memory that decoding untrusted JSON can take.
//
// encoding/json turns a few bytes into far larger Go values: `{},` is three bytes of an
// array of OCI descriptors and about 250 bytes of heap once decoded, so a 3 MB manifest
// of empty objects decodes to 250 MB. The byte size of a document does not bound that; the
// number of values in it does.
package jsonlimit

import (
	"errors"
	"fmt"
)

// ErrTooManyValues is wrapped by the error [Check] returns.
var ErrTooManyValues = errors.New("too many JSON values")

// Count returns an upper bound on the number of values a JSON document holds (every
// object, array and comma outside strings), without decoding it. For any valid document
// the number of values, nested ones included, is at most Count+1. Malformed input gets
// some count; the decoder reports it.
func Count(data []byte) int {
	n := 0
	in, esc := false, false
	for _, c := range data {
		switch {
		case esc:
			esc = false
		case in:
			switch c {
			case '\\':
				esc = true
			case '"':
				in = false
			}
		case c == '"':
			in = true
		case c == '{' || c == '[' || c == ',':
			n++
		}
	}
	return n
}

// Check returns an error wrapping ErrTooManyValues if data may hold more than max values.
func Check(data []byte, max int) error {
	if n := Count(data); n > max {
		return fmt.Errorf("%w: %d objects, arrays and elements, more than the limit of %d", ErrTooManyValues, n, max)
	}
	return nil
}
