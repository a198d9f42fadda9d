package safetext

import "testing"

func TestQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"example/app:1.2", "example/app:1.2"},
		{"café.imgx", "café.imgx"},
		{"with space.imgx", "with space.imgx"},
		{"app\x1b[2K\x1b[1Gvictim", `"app\x1b[2K\x1b[1Gvictim"`},
		{"a\nImage: b", `"a\nImage: b"`},
		{"cr\rover", `"cr\rover"`},
		{"bidi\u202eexe.gpj", `"bidi\u202eexe.gpj"`},
		{"bad\xffutf8", `"bad\xffutf8"`},
		{`quote"d`, `"quote\"d"`},
		{`back\slash`, `"back\\slash"`},
		{"", ""},
	}
	for _, tt := range tests {
		if got := Quote(tt.in); got != tt.want {
			t.Errorf("Quote(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestLines(t *testing.T) {
	tests := []struct{ in, want string }{
		{"2 problems:\n  one\n  two", "2 problems:\n  one\n  two"},
		{"entry \x1b]0;pwned\x07 bad", `entry \x1b]0;pwned\a bad`},
		{"tab\there", "tab\there"},
		{"bad\xffbyte\r", `bad\xffbyte\r`},
		{"bidi\u202e", `bidi\u202e`},
	}
	for _, tt := range tests {
		if got := Lines(tt.in); got != tt.want {
			t.Errorf("Lines(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestLine(t *testing.T) {
	tests := []struct{ in, want string }{
		{`/bin/sh -c #(nop) CMD ["sh"]`, `/bin/sh -c #(nop) CMD ["sh"]`},
		{"a\nb\tc\x1b[0m", `a\nb\tc\x1b[0m`},
	}
	for _, tt := range tests {
		if got := Line(tt.in); got != tt.want {
			t.Errorf("Line(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
