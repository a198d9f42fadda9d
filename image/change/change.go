package change

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ErrNotAllowed is wrapped by errors for instructions that exist in
// Dockerfiles but cannot be used as a change (FROM, RUN, COPY, ...) and for
// unknown instruction names.
var ErrNotAllowed = errors.New("instruction not allowed in a change")

// Instruction is one parsed change line. Arguments are kept as written
// (unexpanded, quotes intact where the instruction expands them) because
// expansion depends on the config's Env at the time the change is applied.
type Instruction struct {
	// Cmd is the upper-case instruction name, e.g. "ENV".
	Cmd string
	// Flags holds leading --name=value words, quotes removed. Only
	// HEALTHCHECK accepts any.
	Flags []string
	// Args depends on Cmd:
	//   CMD, ENTRYPOINT: the exec-form array, or one element holding the
	//     shell-form command; nil when empty.
	//   ENV, LABEL: key, value, key, value, ... as written.
	//   EXPOSE, VOLUME: the words (or JSON array elements).
	//   USER, WORKDIR, STOPSIGNAL: one element, the rest of the line.
	//   ONBUILD: one element, the trigger instruction as written.
	//   HEALTHCHECK: "NONE", or "CMD" followed by the command as for CMD.
	Args []string
	// JSON reports an exec (JSON array) form.
	JSON bool
	// Original is the logical line, continuations joined, used in errors.
	Original string
}

// Error is a problem with one change line.
type Error struct {
	Instruction string // the logical line as written
	Err         error
}

func (e *Error) Error() string { return fmt.Sprintf("change %q: %v", e.Instruction, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

// allowed lists the change commands, as moby's validCommitCommands does.
var allowed = map[string]bool{
	"CMD": true, "ENTRYPOINT": true, "ENV": true, "EXPOSE": true, "HEALTHCHECK": true,
	"LABEL": true, "ONBUILD": true, "STOPSIGNAL": true, "USER": true, "VOLUME": true, "WORKDIR": true,
}

// dockerfileOnly lists the other Dockerfile instructions, for clearer errors
// and for checking ONBUILD triggers.
var dockerfileOnly = map[string]bool{
	"ADD": true, "ARG": true, "COPY": true, "FROM": true, "MAINTAINER": true, "RUN": true, "SHELL": true,
}

// expands reports the instructions whose arguments docker expands.
var expands = map[string]bool{
	"ENV": true, "EXPOSE": true, "LABEL": true, "STOPSIGNAL": true, "USER": true, "VOLUME": true, "WORKDIR": true,
}

// Parse parses exactly one change instruction (continuation lines allowed).
// Everything that does not depend on the config's Env is checked here, so a
// line without `$` that parses will also apply.
func Parse(s string) (Instruction, error) {
	ins, err := ParseAll([]string{s})
	if err != nil {
		return Instruction{}, err
	}
	switch len(ins) {
	case 1:
		return ins[0], nil
	case 0:
		return Instruction{}, &Error{Instruction: s, Err: errors.New("empty change")}
	default:
		return Instruction{}, &Error{Instruction: s, Err: fmt.Errorf("%d instructions in one change; pass them separately", len(ins))}
	}
}

// ParseAll parses changes the way docker does: joined with newlines and read
// as Dockerfile lines, so one string may hold several instructions.
func ParseAll(changes []string) ([]Instruction, error) {
	var out []Instruction
	for _, line := range logicalLines(strings.Join(changes, "\n")) {
		ins, err := parseLine(line)
		if err != nil {
			return nil, &Error{Instruction: line, Err: err}
		}
		if !expands[ins.Cmd] || !strings.Contains(line, "$") {
			// Dry run: without variables the result cannot depend on Env.
			if err := applyOne(&v1.Config{}, &state{}, ins); err != nil {
				return nil, &Error{Instruction: line, Err: err}
			}
		}
		out = append(out, ins)
	}
	return out, nil
}

// logicalLines splits Dockerfile text into instructions: blank and comment
// lines are dropped (also inside a continuation) and a line ending in `\`
// (plus optional blanks) continues on the next one.
func logicalLines(text string) []string {
	var out []string
	var cur strings.Builder
	cont := false
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSuffix(l, "\r")
		t := strings.TrimLeftFunc(l, unicode.IsSpace)
		if t == "" || t[0] == '#' {
			continue
		}
		if !cont {
			l = t
		}
		trimmed := strings.TrimRight(l, " \t")
		if strings.HasSuffix(trimmed, `\`) {
			cur.WriteString(strings.TrimSuffix(trimmed, `\`))
			cont = true
			continue
		}
		cur.WriteString(l)
		out = append(out, strings.TrimSpace(cur.String()))
		cur.Reset()
		cont = false
	}
	if cont && strings.TrimSpace(cur.String()) != "" {
		out = append(out, strings.TrimSpace(cur.String()))
	}
	return out
}

// parseLine does the structural part of parsing one logical line.
func parseLine(line string) (Instruction, error) {
	name, rest := splitWord(line)
	ins := Instruction{Cmd: strings.ToUpper(name), Original: line}
	switch {
	case allowed[ins.Cmd]:
	case dockerfileOnly[ins.Cmd]:
		return ins, fmt.Errorf("%s: %w (allowed: CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR)", ins.Cmd, ErrNotAllowed)
	default:
		return ins, fmt.Errorf("unknown instruction %q: %w", name, ErrNotAllowed)
	}
	if ins.Cmd == "ONBUILD" {
		// The trigger is a whole line of its own, flags included.
		return ins, parseOnbuild(&ins, rest)
	}
	var err error
	rest, ins.Flags, err = extractFlags(rest)
	if err != nil {
		return ins, err
	}
	if len(ins.Flags) > 0 && ins.Cmd != "HEALTHCHECK" {
		return ins, fmt.Errorf("unknown flag: %s", flagName(ins.Flags[0]))
	}
	switch ins.Cmd {
	case "CMD", "ENTRYPOINT":
		ins.Args, ins.JSON, err = maybeJSON(rest)
	case "ENV", "LABEL":
		ins.Args, err = nameValues(ins.Cmd, rest)
	case "EXPOSE":
		ins.Args = strings.Fields(rest)
		if len(ins.Args) == 0 {
			err = errors.New("EXPOSE requires at least one port")
		}
	case "VOLUME":
		ins.Args, ins.JSON, err = maybeJSONList(rest)
		if err == nil && len(ins.Args) == 0 {
			err = errors.New("VOLUME requires at least one path")
		}
	case "USER", "WORKDIR", "STOPSIGNAL":
		if rest == "" {
			return ins, fmt.Errorf("%s requires exactly one argument", ins.Cmd)
		}
		ins.Args = []string{rest}
	case "HEALTHCHECK":
		err = parseHealthcheck(&ins, rest)
	}
	return ins, err
}

// splitWord splits off the first whitespace-delimited word; rest is trimmed.
func splitWord(s string) (word, rest string) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, unicode.IsSpace)
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimSpace(s[i:])
}

// extractFlags takes leading words that start with "--" off rest, as the
// Dockerfile parser does; a lone "--" ends the flags.
func extractFlags(rest string) (string, []string, error) {
	var flags []string
	for strings.HasPrefix(rest, "--") {
		var word strings.Builder
		i := 0
		var quote byte
	scan:
		for ; i < len(rest); i++ {
			c := rest[i]
			switch {
			case quote != 0 && c == quote:
				quote = 0
			case quote != 0:
				word.WriteByte(c)
			case c == '"' || c == '\'':
				quote = c
			case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f':
				break scan
			default:
				word.WriteByte(c)
			}
		}
		if quote != 0 {
			return "", nil, fmt.Errorf("unterminated quote in flag %q", rest[:i])
		}
		rest = strings.TrimSpace(rest[i:])
		if word.String() == "--" {
			break
		}
		flags = append(flags, word.String())
	}
	return rest, flags, nil
}

func flagName(f string) string {
	name, _, _ := strings.Cut(strings.TrimPrefix(f, "--"), "=")
	return name
}

// maybeJSON parses an exec form `["a", "b"]` or keeps a shell form whole.
func maybeJSON(rest string) ([]string, bool, error) {
	if rest == "" {
		return nil, false, nil
	}
	if !strings.HasPrefix(rest, "[") {
		return []string{rest}, false, nil
	}
	args, err := jsonArray(rest)
	return args, true, err
}

// maybeJSONList parses a JSON array or whitespace-separated words.
func maybeJSONList(rest string) ([]string, bool, error) {
	if strings.HasPrefix(rest, "[") {
		args, err := jsonArray(rest)
		return args, true, err
	}
	return strings.Fields(rest), false, nil
}

func jsonArray(s string) ([]string, error) {
	var raw []any
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return nil, fmt.Errorf("exec form is not a valid JSON array (use double quotes): %w", err)
	}
	args := make([]string, len(raw))
	for i, v := range raw {
		str, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("exec form element %d is %s, want a string", i, jsonKind(v))
		}
		args[i] = str
	}
	return args, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case float64:
		return "a number"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("%T", v)
}

// nameValues parses `k=v k2="v 2"` pairs or the legacy `k some value` form.
func nameValues(cmd, rest string) ([]string, error) {
	words := dockerWords(rest)
	if len(words) == 0 {
		return nil, fmt.Errorf("%s requires at least one argument", cmd)
	}
	if !strings.Contains(words[0], "=") {
		// Legacy form: the value is the rest of the line as written.
		key, val := splitWord(rest)
		if val == "" {
			return nil, fmt.Errorf("%s %s: missing value (want %s name=value or %s name value)", cmd, key, cmd, cmd)
		}
		return []string{key, val}, nil
	}
	var out []string
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok {
			return nil, fmt.Errorf("can't find = in %q: must be of the form name=value", w)
		}
		if k == "" {
			return nil, fmt.Errorf("%s names can not be blank (in %q)", cmd, w)
		}
		out = append(out, k, v)
	}
	return out, nil
}

// dockerWords splits on whitespace outside quotes, keeping quotes and
// escapes in the words for later expansion (the Dockerfile parser's
// parseWords).
func dockerWords(s string) []string {
	var words []string
	var word strings.Builder
	inWord, blankOK := false, false
	var quote rune
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		if quote != 0 {
			word.WriteRune(c)
			if c == quote {
				quote = 0
			} else if c == '\\' && quote != '\'' && i+1 < len(rs) {
				i++
				word.WriteRune(rs[i])
			}
			continue
		}
		if unicode.IsSpace(c) {
			if inWord && (blankOK || word.Len() > 0) {
				words = append(words, word.String())
			}
			word.Reset()
			inWord, blankOK = false, false
			continue
		}
		inWord = true
		switch {
		case c == '\'' || c == '"':
			quote, blankOK = c, true
			word.WriteRune(c)
		case c == '\\':
			if i+1 < len(rs) {
				word.WriteRune(c)
				i++
				word.WriteRune(rs[i])
			}
		default:
			word.WriteRune(c)
		}
	}
	if inWord && (blankOK || word.Len() > 0) {
		words = append(words, word.String())
	}
	return words
}

func parseOnbuild(ins *Instruction, rest string) error {
	if rest == "" {
		return errors.New("ONBUILD requires a trigger instruction")
	}
	word, _ := splitWord(rest)
	trigger := strings.ToUpper(word)
	switch {
	case trigger == "ONBUILD":
		return errors.New("chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
	case trigger == "FROM" || trigger == "MAINTAINER":
		return fmt.Errorf("%s isn't allowed as an ONBUILD trigger", trigger)
	case allowed[trigger]:
		// Catch syntax errors now rather than in someone else's build.
		if _, err := parseLine(rest); err != nil {
			return fmt.Errorf("ONBUILD trigger: %w", err)
		}
	case !dockerfileOnly[trigger]:
		return fmt.Errorf("unknown instruction %q in ONBUILD trigger", word)
	}
	ins.Args = []string{rest}
	return nil
}

func parseHealthcheck(ins *Instruction, rest string) error {
	typ, cmdline := splitWord(rest)
	typ = strings.ToUpper(typ)
	switch typ {
	case "":
		return errors.New("HEALTHCHECK requires NONE or CMD")
	case "NONE":
		if cmdline != "" {
			return errors.New("HEALTHCHECK NONE takes no arguments")
		}
		if len(ins.Flags) > 0 {
			return errors.New("HEALTHCHECK NONE takes no flags")
		}
		ins.Args = []string{"NONE"}
		return nil
	case "CMD":
		args, isJSON, err := maybeJSON(cmdline)
		if err != nil {
			return err
		}
		if len(args) == 0 {
			return errors.New("missing command after HEALTHCHECK CMD")
		}
		ins.Args, ins.JSON = append([]string{"CMD"}, args...), isJSON
		return nil
	}
	return fmt.Errorf("unknown type %q in HEALTHCHECK (try CMD)", typ)
}
