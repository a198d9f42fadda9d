package change

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// canon re-marshals config JSON so field order and spacing do not matter.
func canon(t *testing.T, s string) string {
	t.Helper()
	var c v1.Config
	if err := json.Unmarshal([]byte(s), &c); err != nil {
		t.Fatalf("bad expected JSON %s: %v", s, err)
	}
	b, _ := json.Marshal(c)
	return string(b)
}

func mustJSON(c *v1.Config) string {
	b, _ := json.Marshal(c)
	return string(b)
}

func TestApplyAll(t *testing.T) {
	base := `{"Env":["PATH=/usr/bin","HOME=/root"],"Cmd":["sh"],"WorkingDir":"/app"}`
	tests := []struct {
		name    string
		base    string
		changes []string
		want    string
	}{
		{"cmd exec", "", []string{`CMD ["nginx", "-g", "daemon off;"]`},
			`{"Cmd":["nginx","-g","daemon off;"]}`},
		{"cmd shell is not expanded", "", []string{`CMD echo "hi $HOME"  `},
			`{"Cmd":["/bin/sh","-c","echo \"hi $HOME\""]}`},
		{"lower-case name", "", []string{`cmd ls -l`}, `{"Cmd":["/bin/sh","-c","ls -l"]}`},
		{"cmd replaces", base, []string{`CMD ["bash"]`},
			`{"Env":["PATH=/usr/bin","HOME=/root"],"Cmd":["bash"],"WorkingDir":"/app"}`},
		{"entrypoint resets inherited cmd", base, []string{`ENTRYPOINT ["/entry.sh"]`},
			`{"Env":["PATH=/usr/bin","HOME=/root"],"Entrypoint":["/entry.sh"],"WorkingDir":"/app"}`},
		{"cmd then entrypoint keeps cmd", base, []string{`CMD ["--serve"]`, `ENTRYPOINT ["/app/bin"]`},
			`{"Env":["PATH=/usr/bin","HOME=/root"],"Cmd":["--serve"],"Entrypoint":["/app/bin"],"WorkingDir":"/app"}`},
		{"entrypoint then cmd", "", []string{`ENTRYPOINT ["/app/bin"]`, `CMD ["--serve"]`},
			`{"Cmd":["--serve"],"Entrypoint":["/app/bin"]}`},
		{"entrypoint shell form", base, []string{`ENTRYPOINT top -b`},
			`{"Env":["PATH=/usr/bin","HOME=/root"],"Entrypoint":["/bin/sh","-c","top -b"],"WorkingDir":"/app"}`},
		{"empty cmd does not count as set", base, []string{`CMD []`, `ENTRYPOINT ["x"]`},
			`{"Env":["PATH=/usr/bin","HOME=/root"],"Entrypoint":["x"],"WorkingDir":"/app"}`},
		{"empty entrypoint clears", `{"Entrypoint":["a"],"Cmd":["b"]}`, []string{`ENTRYPOINT []`}, `{}`},
		{"image shell used for shell form", `{"Shell":["/bin/bash","-o","pipefail","-c"]}`, []string{`CMD make all`},
			`{"Shell":["/bin/bash","-o","pipefail","-c"],"Cmd":["/bin/bash","-o","pipefail","-c","make all"]}`},
		{"env pairs and quoting", "", []string{`ENV A=1 B="two words" C=three\ words D='single $x' E="esc \"q\" \$x \n"`},
			`{"Env":["A=1","B=two words","C=three words","D=single $x","E=esc \"q\" $x \\n"]}`},
		{"env legacy form", "", []string{`ENV MY_VAR some value  here`}, `{"Env":["MY_VAR=some value  here"]}`},
		{"env legacy quoted", "", []string{`ENV GREETING "hello world"`}, `{"Env":["GREETING=hello world"]}`},
		{"env expands and replaces in place", base, []string{`ENV PATH=/opt/bin:$PATH`},
			`{"Env":["PATH=/opt/bin:/usr/bin","HOME=/root"],"Cmd":["sh"],"WorkingDir":"/app"}`},
		{"env later overrides, one line sees old env", "", []string{`ENV A=1`, `ENV A=2 B=$A`},
			`{"Env":["A=2","B=1"]}`},
		{"env modifiers", base, []string{`ENV X=${NOPE:-def} Y=${HOME:+set} Z=${NOPE:+set} W=${HOME-x} V=$ U=${NOPE}end`},
			`{"Env":["PATH=/usr/bin","HOME=/root","X=def","Y=set","Z=","W=/root","V=$","U=end"],"Cmd":["sh"],"WorkingDir":"/app"}`},
		{"env continuation", "", []string{"ENV A=1 \\\n    B=2"}, `{"Env":["A=1","B=2"]}`},
		{"expose forms", "", []string{`EXPOSE 80 443/tcp 53/udp 8000-8002 9/SCTP 080`},
			`{"ExposedPorts":{"80/tcp":{},"443/tcp":{},"53/udp":{},"8000/tcp":{},"8001/tcp":{},"8002/tcp":{},"9/sctp":{}}}`},
		{"expose variable splits into words", "", []string{`ENV PORTS="80 81/udp"`, `EXPOSE $PORTS`},
			`{"Env":["PORTS=80 81/udp"],"ExposedPorts":{"80/tcp":{},"81/udp":{}}}`},
		{"expose merges", `{"ExposedPorts":{"22/tcp":{}}}`, []string{`EXPOSE 80`},
			`{"ExposedPorts":{"22/tcp":{},"80/tcp":{}}}`},
		{"labels", "", []string{`LABEL a=b "c d"="e f" version=1.0`, `label a=override`},
			`{"Labels":{"a":"override","c d":"e f","version":"1.0"}}`},
		{"label legacy", "", []string{`LABEL maintainer Jane Doe <jane@example.com>`},
			`{"Labels":{"maintainer":"Jane Doe <jane@example.com>"}}`},
		{"label expands", "", []string{`ENV V=1.2`, `LABEL version=$V "x"='$V'`},
			`{"Env":["V=1.2"],"Labels":{"version":"1.2","x":"$V"}}`},
		{"onbuild stores trigger as written", "", []string{`ONBUILD RUN make /app`, `onbuild copy --chown=1:1 . /src`, `ONBUILD ENV X=$Y`},
			`{"OnBuild":["RUN make /app","copy --chown=1:1 . /src","ENV X=$Y"]}`},
		{"user", "", []string{`USER nobody:nogroup`}, `{"User":"nobody:nogroup"}`},
		{"user expands", "", []string{`ENV U=app`, `USER ${U}:${G:-staff}`}, `{"Env":["U=app"],"User":"app:staff"}`},
		{"volume json and words", "", []string{`VOLUME ["/data", "/var/log app"]`, `VOLUME /a /b`},
			`{"Volumes":{"/data":{},"/var/log app":{},"/a":{},"/b":{}}}`},
		{"workdir relative and cleaned", "", []string{`WORKDIR /a`, `WORKDIR b`, `WORKDIR ../c/./d/`},
			`{"WorkingDir":"/a/c/d"}`},
		{"workdir relative to image", base, []string{`WORKDIR x`},
			`{"Env":["PATH=/usr/bin","HOME=/root"],"Cmd":["sh"],"WorkingDir":"/app/x"}`},
		{"workdir relative from empty", "", []string{`WORKDIR srv/`}, `{"WorkingDir":"/srv"}`},
		{"workdir absolute cleaned", base, []string{`WORKDIR /x/../y//z/`},
			`{"Env":["PATH=/usr/bin","HOME=/root"],"Cmd":["sh"],"WorkingDir":"/y/z"}`},
		{"workdir with space and variable", base, []string{`WORKDIR $HOME/my dir`},
			`{"Env":["PATH=/usr/bin","HOME=/root"],"Cmd":["sh"],"WorkingDir":"/root/my dir"}`},
		{"stopsignal", "", []string{`STOPSIGNAL SIGQUIT`}, `{"StopSignal":"SIGQUIT"}`},
		{"stopsignal number", "", []string{`STOPSIGNAL 9`}, `{"StopSignal":"9"}`},
		{"stopsignal rt", "", []string{`STOPSIGNAL SIGRTMIN+3`}, `{"StopSignal":"SIGRTMIN+3"}`},
		{"healthcheck shell with flags", "", []string{`HEALTHCHECK --interval=30s --timeout=3s --start-period=1m --retries=3 CMD curl -f http://localhost/ || exit 1`},
			`{"Healthcheck":{"Test":["CMD-SHELL","curl -f http://localhost/ || exit 1"],"Interval":30000000000,"Timeout":3000000000,"StartPeriod":60000000000,"Retries":3}}`},
		{"healthcheck exec", "", []string{`healthcheck cmd ["/bin/check", "--quick"]`},
			`{"Healthcheck":{"Test":["CMD","/bin/check","--quick"]}}`},
		{"healthcheck none", `{"Healthcheck":{"Test":["CMD","x"],"Retries":2}}`, []string{`HEALTHCHECK NONE`},
			`{"Healthcheck":{"Test":["NONE"]}}`},
		{"several in one string with comments", "", []string{"# set up\nUSER app\n\n  # more\nWORKDIR /w\n"},
			`{"User":"app","WorkingDir":"/w"}`},
		{"no changes", base, nil, base},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfg v1.Config
			if tt.base != "" {
				if err := json.Unmarshal([]byte(tt.base), &cfg); err != nil {
					t.Fatal(err)
				}
			}
			if err := ApplyAll(&cfg, tt.changes); err != nil {
				t.Fatalf("ApplyAll(%q) error: %v", tt.changes, err)
			}
			if got, want := mustJSON(&cfg), canon(t, tt.want); got != want {
				t.Errorf("ApplyAll(%q)\n got %s\nwant %s", tt.changes, got, want)
			}
		})
	}
}

func TestParseFields(t *testing.T) {
	tests := []struct {
		in   string
		want Instruction
	}{
		{`CMD ["a", "b"]`, Instruction{Cmd: "CMD", Args: []string{"a", "b"}, JSON: true, Original: `CMD ["a", "b"]`}},
		{`  entrypoint   run it  `, Instruction{Cmd: "ENTRYPOINT", Args: []string{"run it"}, Original: `entrypoint   run it`}},
		{`ENV A="x y" B=2`, Instruction{Cmd: "ENV", Args: []string{"A", `"x y"`, "B", "2"}, Original: `ENV A="x y" B=2`}},
		{`HEALTHCHECK --retries=2 CMD true`, Instruction{Cmd: "HEALTHCHECK", Flags: []string{"--retries=2"}, Args: []string{"CMD", "true"}, Original: `HEALTHCHECK --retries=2 CMD true`}},
		{"ONBUILD RUN a \\\n b", Instruction{Cmd: "ONBUILD", Args: []string{"RUN a  b"}, Original: "ONBUILD RUN a  b"}},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q) error: %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Parse(%q)\n got %#v\nwant %#v", tt.in, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", `change "": empty change`},
		{"# only a comment", `empty change`},
		{"USER a\nUSER b", `2 instructions in one change`},
		{"FROM alpine", `change "FROM alpine": FROM: instruction not allowed in a change`},
		{"RUN make", `RUN: instruction not allowed`},
		{"COPY a b", `COPY: instruction not allowed`},
		{"SHELL [\"/bin/bash\"]", `SHELL: instruction not allowed`},
		{"FOO bar", `change "FOO bar": unknown instruction "FOO"`},
		{`CMD ["a",`, `exec form is not a valid JSON array`},
		{`CMD ['a']`, `exec form is not a valid JSON array (use double quotes)`},
		{`ENTRYPOINT ["a"] extra`, `exec form is not a valid JSON array`},
		{`CMD [1, "a"]`, `exec form element 0 is a number, want a string`},
		{`CMD --help`, `unknown flag: help`},
		{"ENV", `ENV requires at least one argument`},
		{"ENV FOO", `ENV FOO: missing value`},
		{"ENV A=1 B", `can't find = in "B"`},
		{"ENV =x", `ENV names can not be blank`},
		{`ENV A="open`, `unexpected end of statement while looking for matching double-quote`},
		{`ENV A='open`, `matching single-quote`},
		{"EXPOSE abc", `change "EXPOSE abc": invalid port "abc"`},
		{"EXPOSE", `EXPOSE requires at least one port`},
		{"EXPOSE 0", `invalid port "0"`},
		{"EXPOSE 70000", `invalid port "70000"`},
		{"EXPOSE -80", `invalid port "-80"`},
		{"EXPOSE 80/xyz", `invalid protocol "xyz" in port "80/xyz"`},
		{"EXPOSE 80/", `invalid protocol "" in port "80/"`},
		{"EXPOSE 9-3", `invalid port range "9-3": start is after end`},
		{"EXPOSE 8080:80", `port "8080:80": host mappings are not allowed in EXPOSE`},
		{"LABEL foo", `LABEL foo: missing value`},
		{"LABEL a=b c", `can't find = in "c"`},
		{"ONBUILD", `ONBUILD requires a trigger instruction`},
		{"ONBUILD ONBUILD RUN x", "chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"},
		{"ONBUILD from alpine", `FROM isn't allowed as an ONBUILD trigger`},
		{"ONBUILD MAINTAINER me", `MAINTAINER isn't allowed as an ONBUILD trigger`},
		{"ONBUILD FOO x", `unknown instruction "FOO" in ONBUILD trigger`},
		{"ONBUILD ENV X", `ONBUILD trigger: ENV X: missing value`},
		{"USER", `USER requires exactly one argument`},
		{"WORKDIR", `WORKDIR requires exactly one argument`},
		{`WORKDIR ""`, `WORKDIR "\"\"" expands to an empty path`},
		{"VOLUME", `VOLUME requires at least one path`},
		{`VOLUME [""]`, `VOLUME path can not be an empty string`},
		{`VOLUME ["/a", 1]`, `exec form element 1 is a number`},
		{"STOPSIGNAL", `STOPSIGNAL requires exactly one argument`},
		{"STOPSIGNAL SIGFOO", `invalid signal "SIGFOO"`},
		{"STOPSIGNAL 0", `invalid signal "0": number must be 1..64`},
		{"STOPSIGNAL RTMIN+16", `invalid signal "RTMIN+16"`},
		{"HEALTHCHECK", `HEALTHCHECK requires NONE or CMD`},
		{"HEALTHCHECK PING x", `unknown type "PING" in HEALTHCHECK (try CMD)`},
		{"HEALTHCHECK CMD", `missing command after HEALTHCHECK CMD`},
		{"HEALTHCHECK NONE x", `HEALTHCHECK NONE takes no arguments`},
		{"HEALTHCHECK --interval=5s NONE", `HEALTHCHECK NONE takes no flags`},
		{"HEALTHCHECK --interval=abc CMD x", `--interval "abc": time: invalid duration`},
		{"HEALTHCHECK --interval CMD x", `missing a value on flag: interval`},
		{"HEALTHCHECK --bogus=1 CMD x", `unknown flag: bogus`},
		{"HEALTHCHECK --retries=-1 CMD x", `--retries cannot be negative (-1)`},
		{"HEALTHCHECK --retries=two CMD x", `--retries "two": not a number`},
		{"HEALTHCHECK --timeout=1ns CMD x", `--timeout "1ns" cannot be less than 1ms`},
		{"HEALTHCHECK --timeout=1s --timeout=2s CMD x", `duplicate flag specified: timeout`},
		{"HEALTHCHECK --start-interval=1s CMD x", `--start-interval is not supported`},
		{`HEALTHCHECK CMD [true]`, `exec form element 0 is a boolean`},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in)
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want error containing %q", tt.in, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) error\n got %q\nwant it to contain %q", tt.in, err, tt.want)
		}
		var ce *Error
		if !errors.As(err, &ce) {
			t.Errorf("Parse(%q) error %T is not a *change.Error", tt.in, err)
		}
	}
	if _, err := Parse("RUN x"); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("Parse(RUN x) = %v, want ErrNotAllowed", err)
	}
	if _, err := Parse("FOO x"); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("Parse(FOO x) = %v, want ErrNotAllowed", err)
	}
}

// Errors that depend on the config's Env only show up at Apply time, and an
// error anywhere in the list must leave the config untouched.
func TestApplyErrorsAreAtomic(t *testing.T) {
	tests := []struct {
		changes []string
		want    string
	}{
		{[]string{`USER ${U:?must be set}`}, `change "USER ${U:?must be set}": U: must be set`},
		{[]string{`ENV E=`, `USER ${E:?}`}, `E: is not allowed to be empty`},
		{[]string{`USER ${U?}`}, `U: is not allowed to be unset`},
		{[]string{`WORKDIR $NOPE`}, `WORKDIR "$NOPE" expands to an empty path`},
		{[]string{`ENV P=http`, `EXPOSE $P`}, `invalid port "http"`},
		{[]string{`ENV $NOPE=1`}, `ENV names can not be blank ("$NOPE" expands to nothing)`},
		{[]string{`USER ${X`}, `syntax error: missing '}'`},
		{[]string{`USER ${}`}, `bad substitution`},
		{[]string{`USER ${X:=y}`}, `unsupported modifier (=) in substitution`},
		{[]string{`USER ${X/a/b}`}, `unsupported modifier (/) in substitution`},
		{[]string{`STOPSIGNAL $S`}, `invalid signal ""`},
	}
	for _, tt := range tests {
		cfg := v1.Config{Env: []string{"A=1"}, Cmd: []string{"sh"}, User: "root"}
		before := mustJSON(&cfg)
		changes := append([]string{`CMD ["changed"]`, `LABEL x=y`}, tt.changes...)
		err := ApplyAll(&cfg, changes)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ApplyAll(%q) error = %v, want it to contain %q", tt.changes, err, tt.want)
		}
		if after := mustJSON(&cfg); after != before {
			t.Errorf("ApplyAll(%q) failed but changed the config:\n%s\n->\n%s", tt.changes, before, after)
		}
	}
}

// Apply must not share slices or maps with its input: callers keep the old
// config (for history) while building the new one.
func TestApplyDoesNotAlias(t *testing.T) {
	orig := v1.Config{Env: []string{"A=1"}, Labels: map[string]string{"a": "1"}, ExposedPorts: map[string]struct{}{"1/tcp": {}}}
	cfg := orig
	if err := ApplyAll(&cfg, []string{"ENV A=2", "LABEL a=2", "EXPOSE 2"}); err != nil {
		t.Fatal(err)
	}
	if orig.Env[0] != "A=1" || orig.Labels["a"] != "1" || len(orig.ExposedPorts) != 1 {
		t.Errorf("Apply modified the caller's original slices/maps: %+v", orig)
	}
}

func TestProcessWord(t *testing.T) {
	env := envLookup([]string{"A=x", "B=two words", "E="})
	tests := []struct{ in, want string }{
		{`plain`, `plain`},
		{`$A-$A`, `x-x`},
		{`${A}y`, `xy`},
		{`\$A`, `$A`},
		{`'$A'`, `$A`},
		{`"$A"`, `x`},
		{`"a\b"`, `a\b`},
		{`"a\\b"`, `a\b`},
		{`a\\b`, `a\b`},
		{`a\`, `a`},
		{`${E:-d}|${E-d}|${N-d}`, `d||d`},
		{`${A:+"q q"}`, `q q`},
		{`$1x`, `x`},
		{`$$`, ``},
		{`$-`, ``},
		{`a b  c`, `a b  c`},
	}
	for _, tt := range tests {
		got, err := processWord(tt.in, env)
		if err != nil || got != tt.want {
			t.Errorf("processWord(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	words, err := processWords(`$B "c d" e\ f`, env)
	if want := []string{"two", "words", "c d", "e f"}; err != nil || !reflect.DeepEqual(words, want) {
		t.Errorf("processWords = %q, %v; want %q", words, err, want)
	}
}

func TestCompile(t *testing.T) {
	if _, err := Compile([]string{"FROM x"}); err == nil {
		t.Fatal("Compile accepted FROM")
	}
	apply, err := Compile([]string{"ENTRYPOINT [\"/a\"]", "ENV A=1"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &v1.Config{Cmd: []string{"sh"}}
	if err := apply(cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Entrypoint) != 1 || cfg.Entrypoint[0] != "/a" || cfg.Cmd != nil || len(cfg.Env) != 1 || cfg.Env[0] != "A=1" {
		t.Fatalf("config after Compile's apply: %+v", cfg)
	}
}
