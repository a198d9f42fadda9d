package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/imgx/imgx/progress"
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

// TestWarningClearsProgressBar: a warning or error printed while a bar is drawn on the
// terminal erases the bar's line first instead of running into it (issue 13).
func TestWarningClearsProgressBar(t *testing.T) {
	var term bytes.Buffer
	e := &Env{Stderr: &term}
	bar := progress.NewBar(&term, "put", 60)
	e.track(bar)
	bar.Add(1)
	e.Warnf("retry 1/5")
	fail(e, errors.New("boom"))
	out := term.String()
	for _, want := range []string{"\r\x1b[Kimgx: warning: retry 1/5\n", "\nimgx: error: boom\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("terminal got %q, lacks %q", out, want)
		}
	}
	e.track(progress.Noop) // not a bar: output goes to Stderr as it is
	term.Reset()
	e.Warnf("x")
	if term.String() != "imgx: warning: x\n" {
		t.Errorf("got %q", term.String())
	}
}
