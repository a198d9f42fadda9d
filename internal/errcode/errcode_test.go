package errcode

import (
	"errors"
	"fmt"
	"testing"

	"github.com/imgx/imgx/bundle"
	"github.com/imgx/imgx/store"
	"github.com/imgx/imgx/transport"
	"github.com/imgx/imgx/verify"
)

func TestOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{errors.New("anything"), Other},
		{fmt.Errorf("load b.imgx: %w", verify.ErrUnsigned), Signature},
		{fmt.Errorf("x: %w: %w", bundle.ErrSignature, verify.ErrThreshold), Signature},
		{fmt.Errorf("blob sha256:ab: %w", bundle.ErrDigest), Digest},
		{store.ErrSizeMismatch, Digest},
		{fmt.Errorf("read: %w", bundle.ErrTruncated), Truncated},
		{bundle.ErrNotBundle, Malformed},
		{fmt.Errorf("entry ../x: %w", bundle.ErrUnsafePath), UnsafePath},
		{fmt.Errorf("delta: %w", bundle.ErrMissingBase), MissingBase},
		{store.ErrMissingBlob, MissingBlob},
		{fmt.Errorf("image app:1: %w", store.ErrNotFound), NotFound},
		{store.ErrBusy, Busy},
		{transport.ErrInsufficientSpace, NoSpace},
	} {
		if got := Of(tc.err); got != tc.want {
			t.Errorf("Of(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
	seen := map[string]bool{}
	for _, c := range All {
		seen[c] = true
	}
	for _, row := range table {
		if !seen[row.code] {
			t.Errorf("code %q is not in All", row.code)
		}
	}
}
