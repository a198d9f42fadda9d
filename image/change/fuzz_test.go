package change

import (
	"encoding/json"
	"path"
	"reflect"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// idempotent lists instructions whose second application changes nothing.
// ONBUILD appends and relative WORKDIRs nest, so they are excluded.
var idempotent = map[string]bool{
	"CMD": true, "ENTRYPOINT": true, "ENV": true, "EXPOSE": true, "HEALTHCHECK": true,
	"LABEL": true, "STOPSIGNAL": true, "USER": true, "VOLUME": true,
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`CMD ["a", "b"]`, `ENTRYPOINT top -b`, `ENV A=1 B="x y" C=z\ w`, `ENV K v w`,
		`EXPOSE 80 53/udp 8000-8002`, `LABEL "a b"=c d=e`, `ONBUILD RUN make`, `USER 1000:1000`,
		`VOLUME ["/a"]`, `VOLUME /b /c`, `WORKDIR /srv/../x`, `STOPSIGNAL SIGTERM`,
		`HEALTHCHECK --interval=5s CMD true`, `HEALTHCHECK NONE`, "ENV A=1 \\\n B=2", `ENV P=${PATH:-/bin}`,
		`CMD ['bad']`, `FROM x`, `EXPOSE abc`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ins, err := Parse(s)
		if err != nil {
			return
		}
		if ins.Cmd != strings.ToUpper(ins.Cmd) || !allowed[ins.Cmd] {
			t.Fatalf("Parse(%q) gave Cmd %q", s, ins.Cmd)
		}
		// The logical line is a fixed point, unless it still ends in the
		// escape character, which would read as a continuation again.
		if !strings.HasSuffix(ins.Original, `\`) {
			again, err := Parse(ins.Original)
			if err != nil || !reflect.DeepEqual(again, ins) {
				t.Fatalf("Parse(Original %q) = %#v, %v; want %#v", ins.Original, again, err, ins)
			}
		}
		hasVar := strings.Contains(ins.Original, "$")
		cfg := v1.Config{Env: []string{"PATH=/bin", "HOME=/root"}, Cmd: []string{"sh"}, WorkingDir: "/w"}
		if err := Apply(&cfg, ins); err != nil {
			if !hasVar || !expands[ins.Cmd] {
				t.Fatalf("Parse(%q) accepted, but Apply failed: %v", s, err)
			}
			return
		}
		if !idempotent[ins.Cmd] && (ins.Cmd != "WORKDIR" || !path.IsAbs(ins.Args[0])) {
			return
		}
		if hasVar && (ins.Cmd == "ENV" || ins.Cmd == "WORKDIR") {
			return // may refer to the value it sets
		}
		once, _ := json.Marshal(cfg)
		if err := Apply(&cfg, ins); err != nil {
			t.Fatalf("second Apply(%q) failed: %v", s, err)
		}
		if twice, _ := json.Marshal(cfg); string(once) != string(twice) {
			t.Fatalf("Apply(%q) not idempotent:\n%s\n%s", s, once, twice)
		}
	})
}
