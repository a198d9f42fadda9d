// Package safetext escapes text that came from outside (file names on a carrier, names
// and messages from a bundle or an archive) before it reaches a terminal or a log, so
// that terminal escape sequences, carriage returns and forged newlines in a name cannot
// rewrite what the user sees.
package safetext

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Quote returns s unchanged when it is valid UTF-8 of printable runes without a quote or
// backslash; otherwise s quoted as strconv.Quote does ("app\x1b[2K", "a\nb"), so that
// nothing non-printable reaches the terminal and the reader sees that it was escaped.
func Quote(s string) string {
	if !needsEscape(s, false) && !strings.ContainsAny(s, `"\`) {
		return s
	}
	return strconv.Quote(s)
}

// Lines escapes every non-printable rune of a message meant to span lines, except
// newline and tab, Go-style (\x1b, \r, \u202e), without adding quotes. It is for error
// and warning text that may quote outside names.
func Lines(s string) string {
	if !needsEscape(s, true) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatUint(uint64(s[i])|0x100, 16)[1:])
		case r == '\n' || r == '\t' || strconv.IsPrint(r):
			b.WriteString(s[i : i+n])
		default:
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
		i += n
	}
	return b.String()
}

// Line is Lines for text that must stay on one line (a table cell, a history entry): it
// escapes newline and tab too, and adds no quotes, so ordinary text with quotes in it
// (`CMD ["sh"]`) is shown as it is.
func Line(s string) string {
	if !needsEscape(s, false) {
		return s
	}
	return strings.NewReplacer("\n", `\n`, "\t", `\t`).Replace(Lines(s))
}

func needsEscape(s string, multiline bool) bool {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			return true
		}
		if !strconv.IsPrint(r) && !(multiline && (r == '\n' || r == '\t')) {
			return true
		}
		i += n
	}
	return false
}
