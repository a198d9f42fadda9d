package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestHostileJSONEscapesInvisible: --json output and inspect show strings from images and
// bundles (labels, history, names). encoding/json escapes control characters but passes
// bidirectional overrides (U+202E) and other invisible runes raw, which reorder or hide
// text on a terminal. writeJSON escapes them as \uXXXX; the JSON still decodes to the
// same values.
func TestHostileJSONEscapesInvisible(t *testing.T) {
	v := map[string]string{"created_by": "RUN x\u202egnp.exe\u2066\u200b", "tag": "\U000E0041z", "ok": "café ✓"}
	var b bytes.Buffer
	if err := writeJSON(&b, v); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.ContainsAny(out, "\u202e\u2066\u200b\U000E0041") {
		t.Errorf("raw invisible rune in %q", out)
	}
	if !strings.Contains(out, `\u202e`) || !strings.Contains(out, "café ✓") {
		t.Errorf("output %q: want \\u202e escaped and printable text kept", out)
	}
	var back map[string]string
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	for k := range v {
		if back[k] != v[k] {
			t.Errorf("%s: decoded %q, want %q", k, back[k], v[k])
		}
	}
}
