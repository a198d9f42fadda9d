package transport

import (
	"errors"
	"path"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCheckEntryName(t *testing.T) {
	for _, ok := range []string{"a", "b.imgx", "b.imgx.001", ".hidden", "ümlaut.imgx", strings.Repeat("x", MaxNameBytes)} {
		if err := CheckEntryName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "a/b", "../x", "/etc", `a\b`, `..\..\x`, "a\x00b", "a\nb", "a\rb", "a\tb",
		"\x1b[2Jx", "a\x7f", "a\u0085b", "\xff\xfe", strings.Repeat("x", MaxNameBytes+1)} {
		if err := CheckEntryName(bad); !errors.Is(err, ErrBadName) {
			t.Errorf("%q: %v, want ErrBadName", bad, err)
		}
	}
}

func TestCheckNameElements(t *testing.T) {
	for _, bad := range []string{"done/a\nb", "a\x1b[31m", `dir\x`, "d/" + strings.Repeat("y", MaxNameBytes+1)} {
		if err := CheckName(bad); !errors.Is(err, ErrBadName) {
			t.Errorf("%q: %v, want ErrBadName", bad, err)
		}
	}
}

// FuzzCheckEntryName: whatever a hostile listing returns, an accepted name is one
// path element that cannot leave its directory or carry control characters.
func FuzzCheckEntryName(f *testing.F) {
	for _, s := range []string{"a.imgx", "..", "../../etc/passwd", "a\nb", `a\b`, "x\x00", ".x.imgx-part"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if CheckEntryName(s) != nil {
			return
		}
		if s == "" || s == "." || s == ".." || strings.ContainsAny(s, `/\`) || len(s) > MaxNameBytes || !utf8.ValidString(s) {
			t.Fatalf("accepted %q", s)
		}
		for _, r := range s {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("accepted control character in %q", s)
			}
		}
		if path.Join("dir", s) != "dir/"+s || path.Dir(path.Join("dir", s)) != "dir" {
			t.Fatalf("%q does not stay one element of dir", s)
		}
	})
}
