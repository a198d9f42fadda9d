package bundle

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/imgx/imgx/verify"
)

// TestHostileDisplayedName: the name a bundle shows must be the tag load applies. A
// manifest whose display name differs from its ref (or that has a name but no ref, or a
// ref that is not a tag) is refused as malformed, before anything is shown or stored, so
// `imgx verify` cannot show app:1.2 for a bundle that tags victim:prod. The check holds
// even for a bundle the trusted key signed: a second approver reads verify's output.
func TestHostileDisplayedName(t *testing.T) {
	ctx := context.Background()
	src := sourceStore(t)
	k := key(t, 1)
	good := save(t, src, []string{"example/web:2"}, SaveOptions{Compression: None})
	es := readEntries(t, good)
	tests := []struct{ name, from, to string }{
		{"name differs from ref", `"name": "example/web:2"`, `"name": "app:1.2"`},
		{"ref differs from name", `"ref": "docker.io/example/web:2"`, `"ref": "docker.io/library/victim:prod"`},
		{"escape sequence in name", `"name": "example/web:2"`, `"name": "example/web:2\u001b[2K\u001b[1Gapp:1.2"`},
		{"newline in name", `"name": "example/web:2"`, `"name": "example/web:2\nImage:      app:1.2"`},
		{"name without ref", `"ref": "docker.io/example/web:2",`, ``},
		{"ref not normalised", `"ref": "docker.io/example/web:2"`, `"ref": "example/web:2"`},
		{"ref with digest", `"ref": "docker.io/example/web:2"`, `"ref": "docker.io/example/web@sha256:` + strings.Repeat("a", 64) + `"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !bytes.Contains(es[0].data, []byte(tt.from)) {
				t.Fatalf("manifest lacks %s:\n%s", tt.from, es[0].data)
			}
			m := bytes.Replace(es[0].data, []byte(tt.from), []byte(tt.to), 1)
			if _, err := ParseManifest(m); !errors.Is(err, ErrMalformed) {
				t.Fatalf("ParseManifest = %v, want ErrMalformed", err)
			}
			// Signed by the trusted key, it is still refused by Verify and Load.
			sig, err := verify.Sign(ctx, k.priv, m)
			if err != nil {
				t.Fatal(err)
			}
			sigName, _, err := signatureName(sig)
			if err != nil {
				t.Fatal(err)
			}
			c := []entry{{es[0].h, m}, {&tar.Header{Name: sigName, Typeflag: tar.TypeReg, Mode: 0o644}, sig}}
			data := writeEntries(t, append(c, es[1:]...))
			pol := verify.Policy{Keys: []verify.PublicKey{k.pub}}
			if _, err := Verify(ctx, bytes.NewReader(data), VerifyOptions{Policy: pol}); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Verify = %v, want ErrMalformed", err)
			}
			if _, err := Load(ctx, newStore(t), bytes.NewReader(data), LoadOptions{}); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Load = %v, want ErrMalformed", err)
			}
		})
	}
	// The consistent manifest still parses, and Tag is the applied ref's familiar form.
	m, err := ParseManifest(es[0].data)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Images[0].Tag(); got != "example/web:2" {
		t.Fatalf("Tag() = %q", got)
	}
}
