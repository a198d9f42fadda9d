package ref

import (
	"errors"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in, full, familiar, tag string
	}{
		{"busybox", "docker.io/library/busybox:latest", "busybox:latest", "latest"},
		{"library/busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36", "1.36"},
		{"docker.io/library/busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36", "1.36"},
		{"example/hello:1.0", "docker.io/example/hello:1.0", "example/hello:1.0", "1.0"},
		{"localhost:5000/app", "localhost:5000/app:latest", "localhost:5000/app:latest", "latest"},
		{"quay.io/org/app:v2", "quay.io/org/app:v2", "quay.io/org/app:v2", "v2"},
		{"app@sha256:" + hex64, "docker.io/library/app@sha256:" + hex64, "app@sha256:" + hex64, ""},
	}
	for _, tt := range tests {
		r, err := Parse(tt.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.in, err)
		}
		if r.String() != tt.full || r.Familiar() != tt.familiar || r.Tag() != tt.tag {
			t.Errorf("Parse(%q) = %q, %q, tag %q; want %q, %q, %q", tt.in, r.String(), r.Familiar(), r.Tag(), tt.full, tt.familiar, tt.tag)
		}
	}
}

const hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestParseInvalid(t *testing.T) {
	for _, in := range []string{"", "Upper", "a b", "app:bad tag", "app@sha256:short", ":tag"} {
		if _, err := Parse(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q) error = %v, want ErrInvalid", in, err)
		}
	}
	if _, err := ParseNamed("app@sha256:" + hex64); !errors.Is(err, ErrInvalid) {
		t.Errorf("ParseNamed with digest: %v, want ErrInvalid", err)
	}
}

func TestLooksLikeDigest(t *testing.T) {
	for in, want := range map[string]bool{"ab12": true, "sha256:ab12": true, "busybox": false, "": false, hex64: true, hex64 + "0": false} {
		if got := LooksLikeDigest(in); got != want {
			t.Errorf("LooksLikeDigest(%q) = %v", in, got)
		}
	}
}
