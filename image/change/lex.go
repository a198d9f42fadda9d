package change

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// This file implements the Dockerfile word rules used when docker expands an
// instruction's arguments: quotes are removed, `\` escapes the next
// character (inside double quotes only `"`, `$` and `\`), and $VAR / ${VAR...}
// are replaced from the environment. It mirrors BuildKit's shell.Lex.

const eof = -1

type lookupFunc func(name string) (string, bool)

type lexer struct {
	src []rune
	pos int
	env lookupFunc
}

func (l *lexer) peek() rune {
	if l.pos >= len(l.src) {
		return eof
	}
	return l.src[l.pos]
}

func (l *lexer) next() rune {
	r := l.peek()
	if r != eof {
		l.pos++
	}
	return r
}

// processWord expands one word, keeping whitespace as it is.
func processWord(word string, env lookupFunc) (string, error) {
	l := &lexer{src: []rune(word), env: env}
	s, _, err := l.processStopOn(eof)
	return s, err
}

// processWords expands a word and splits the result into fields; only
// unquoted, unescaped whitespace (including whitespace from variables)
// separates fields.
func processWords(word string, env lookupFunc) ([]string, error) {
	l := &lexer{src: []rune(word), env: env}
	_, w, err := l.processStopOn(eof)
	return w, err
}

func (l *lexer) processStopOn(stop rune) (string, []string, error) {
	var res strings.Builder
	var w fields
	for {
		ch := l.peek()
		if ch == eof {
			break
		}
		if stop != eof && ch == stop {
			l.next()
			return res.String(), w.get(), nil
		}
		switch ch {
		case '$':
			v, err := l.dollar()
			if err != nil {
				return "", nil, err
			}
			res.WriteString(v)
			w.addString(v)
			continue
		case '\'':
			v, err := l.singleQuote()
			if err != nil {
				return "", nil, err
			}
			res.WriteString(v)
			w.addRaw(v)
			continue
		case '"':
			v, err := l.doubleQuote()
			if err != nil {
				return "", nil, err
			}
			res.WriteString(v)
			w.addRaw(v)
			continue
		}
		l.next()
		if ch == '\\' {
			ch = l.next()
			if ch == eof {
				break // a trailing escape is dropped
			}
			w.addRaw(string(ch))
		} else {
			w.addChar(ch)
		}
		res.WriteRune(ch)
	}
	if stop != eof {
		return "", nil, fmt.Errorf("unexpected end of statement while looking for matching %c", stop)
	}
	return res.String(), w.get(), nil
}

func (l *lexer) singleQuote() (string, error) {
	l.next()
	var res strings.Builder
	for {
		ch := l.next()
		switch ch {
		case eof:
			return "", errors.New("unexpected end of statement while looking for matching single-quote")
		case '\'':
			return res.String(), nil
		}
		res.WriteRune(ch)
	}
}

func (l *lexer) doubleQuote() (string, error) {
	l.next()
	var res strings.Builder
	for {
		switch l.peek() {
		case eof:
			return "", errors.New("unexpected end of statement while looking for matching double-quote")
		case '"':
			l.next()
			return res.String(), nil
		case '$':
			v, err := l.dollar()
			if err != nil {
				return "", err
			}
			res.WriteString(v)
			continue
		}
		ch := l.next()
		if ch == '\\' {
			switch l.peek() {
			case eof:
				continue
			case '"', '$', '\\':
				ch = l.next()
			}
		}
		res.WriteRune(ch)
	}
}

func (l *lexer) dollar() (string, error) {
	l.next()
	if l.peek() != '{' {
		name := l.name()
		if name == "" {
			return "$", nil
		}
		v, _ := l.env(name)
		return v, nil
	}
	l.next()
	switch l.peek() {
	case eof:
		return "", errors.New("syntax error: missing '}'")
	case '{', '}', ':':
		return "", errors.New("syntax error: bad substitution")
	}
	name := l.name()
	if name == "" {
		return "", errors.New("syntax error: bad substitution")
	}
	value, set := l.env(name)
	ch := l.next()
	switch ch {
	case '}':
		return value, nil
	case eof:
		return "", errors.New("syntax error: missing '}'")
	case '?', '-', '+':
		word, err := l.modifierWord()
		if err != nil {
			return "", err
		}
		switch {
		case ch == '-' && !set:
			return word, nil
		case ch == '+':
			if set {
				return word, nil
			}
			return "", nil
		case ch == '?' && !set:
			return "", unsetError(name, word, "is not allowed to be unset")
		}
		return value, nil
	case ':':
		mod := l.next()
		word, err := l.modifierWord()
		if err != nil {
			return "", err
		}
		switch mod {
		case '-':
			if value == "" {
				return word, nil
			}
			return value, nil
		case '+':
			if value != "" {
				return word, nil
			}
			return "", nil
		case '?':
			if !set {
				return "", unsetError(name, word, "is not allowed to be unset")
			}
			if value == "" {
				return "", unsetError(name, word, "is not allowed to be empty")
			}
			return value, nil
		}
		return "", fmt.Errorf("unsupported modifier (%s) in substitution", string(mod))
	}
	return "", fmt.Errorf("unsupported modifier (%s) in substitution", string(ch))
}

func (l *lexer) modifierWord() (string, error) {
	word, _, err := l.processStopOn('}')
	if err != nil && l.peek() == eof {
		return "", errors.New("syntax error: missing '}'")
	}
	return word, err
}

func unsetError(name, word, def string) error {
	if word == "" {
		word = def
	}
	return fmt.Errorf("%s: %s", name, word)
}

// name reads a variable name: letters, digits and _, a run of digits, or
// one special parameter character.
func (l *lexer) name() string {
	var b strings.Builder
	for {
		ch := l.peek()
		if ch == eof {
			break
		}
		if b.Len() == 0 && unicode.IsDigit(ch) {
			for unicode.IsDigit(l.peek()) {
				b.WriteRune(l.next())
			}
			break
		}
		if b.Len() == 0 && strings.ContainsRune("@*#?-$!0", ch) {
			return string(l.next())
		}
		if !unicode.IsLetter(ch) && !unicode.IsDigit(ch) && ch != '_' {
			break
		}
		b.WriteRune(l.next())
	}
	return b.String()
}

// fields splits expanded text into words: whitespace separates only when it
// came from plain text or a variable, never from quotes or escapes.
type fields struct {
	cur    strings.Builder
	out    []string
	inWord bool
}

func (f *fields) addChar(ch rune) {
	if unicode.IsSpace(ch) {
		if f.inWord && f.cur.Len() > 0 {
			f.out = append(f.out, f.cur.String())
			f.cur.Reset()
			f.inWord = false
		}
		return
	}
	f.cur.WriteRune(ch)
	f.inWord = true
}

func (f *fields) addString(s string) {
	for _, ch := range s {
		f.addChar(ch)
	}
}

func (f *fields) addRaw(s string) {
	f.cur.WriteString(s)
	f.inWord = true
}

func (f *fields) get() []string {
	if f.cur.Len() > 0 {
		f.out = append(f.out, f.cur.String())
		f.cur.Reset()
		f.inWord = false
	}
	return f.out
}
