package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/imgx/imgx/internal/errcode"
)

// jsonDocPath is the documented JSON contract: every key a --json command prints must be
// in its table there.
const jsonDocPath = "../../docs/json.md"

type jsonSchema struct {
	keys  map[string]map[string]bool // command -> documented key paths
	codes []string                   // documented error codes, in order
}

var (
	sectionRE = regexp.MustCompile("^### imgx ([a-z-]+)$")
	keyRowRE  = regexp.MustCompile("^\\| `([a-z0-9_.\\[\\]]+)` \\|")
)

// failureSection holds the keys of the document any --json command prints when it fails.
const failureSection = "(failure)"

// loadJSONSchema parses docs/json.md: "### imgx CMD" sections with key tables, and the
// error-code table.
func loadJSONSchema() (*jsonSchema, error) {
	b, err := os.ReadFile(jsonDocPath)
	if err != nil {
		return nil, err
	}
	s := &jsonSchema{keys: map[string]map[string]bool{}}
	section, inCodes := "", false
	for line := range strings.SplitSeq(string(b), "\n") {
		if strings.HasPrefix(line, "#") {
			section, inCodes = "", line == "### Error codes"
			if line == "### A command that fails" {
				section = failureSection
				s.keys[section] = map[string]bool{}
			}
			if m := sectionRE.FindStringSubmatch(line); m != nil {
				section = m[1]
				s.keys[section] = map[string]bool{}
			}
			continue
		}
		m := keyRowRE.FindStringSubmatch(line)
		switch {
		case m == nil:
		case inCodes:
			s.codes = append(s.codes, m[1])
		case section != "":
			s.keys[section][m[1]] = true
		}
	}
	return s, nil
}

// check parses data as the --json output of cmd and returns what breaks the contract:
// not one JSON object, no schema_version 1, a null anywhere, or an undocumented key.
func (s *jsonSchema) check(cmd string, data []byte) error {
	known, ok := s.keys[cmd]
	if !ok {
		return fmt.Errorf("docs/json.md has no section \"### imgx %s\"", cmd)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("imgx %s --json: not JSON: %v\n%s", cmd, err, data)
	}
	if dec.More() {
		return fmt.Errorf("imgx %s --json: more than one JSON value", cmd)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("imgx %s --json: the document is not an object", cmd)
	}
	if sv, _ := obj["schema_version"].(json.Number); sv.String() != fmt.Sprint(schemaVersion) {
		return fmt.Errorf("imgx %s --json: schema_version %v, want %d", cmd, obj["schema_version"], schemaVersion)
	}
	if _, failed := obj["error"]; failed {
		known = s.keys[failureSection]
	}
	var errs []string
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case nil:
			errs = append(errs, fmt.Sprintf("%s is null", path))
		case map[string]any:
			for k, x := range v {
				p := k
				if path != "" {
					p = path + "." + k
				}
				if !known[p] {
					errs = append(errs, fmt.Sprintf("key %s is not documented", p))
				}
				walk(p, x)
			}
		case []any:
			for _, x := range v {
				walk(path+"[]", x)
			}
		}
	}
	walk("", obj)
	if len(errs) > 0 {
		sort.Strings(errs)
		return fmt.Errorf("imgx %s --json breaks docs/json.md:\n\t%s\n%s", cmd, strings.Join(errs, "\n\t"), data)
	}
	return nil
}

var (
	digestRE = regexp.MustCompile(`sha256:[0-9a-f]{64}`)
	timeRE   = regexp.MustCompile(`"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)"`)
)

// normalizeJSON replaces what differs between runs of the same script: times become
// "<time>", the work directory $WORK, and digests sha256:<N>, numbered by first
// appearance, so a golden file still says which digests are the same.
func normalizeJSON(data []byte, work string) []byte {
	s := strings.ReplaceAll(string(data), work, "$WORK")
	s = timeRE.ReplaceAllString(s, `"<time>"`)
	seen := map[string]int{}
	s = digestRE.ReplaceAllStringFunc(s, func(d string) string {
		if _, ok := seen[d]; !ok {
			seen[d] = len(seen) + 1
		}
		return fmt.Sprintf("sha256:<%d>", seen[d])
	})
	return []byte(s)
}

// jsonScriptCmds are the script commands for --json output:
//
//	jsonschema CMD   stdout is a document of imgx CMD that keeps docs/json.md's contract
//	golden FILE      stdout, normalised (normalizeJSON), equals FILE
//
// With IMGX_GOLDEN_DIR=DIR set, golden also writes the normalised output to DIR/FILE,
// to paste into the script after a deliberate change.
var jsonScriptCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"jsonschema": func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 1 {
			ts.Fatalf("usage: jsonschema CMD")
		}
		s, err := loadJSONSchema()
		ts.Check(err)
		ts.Check(s.check(args[0], []byte(ts.ReadFile("stdout"))))
	},
	"golden": func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 1 {
			ts.Fatalf("usage: golden FILE")
		}
		got := string(normalizeJSON([]byte(ts.ReadFile("stdout")), ts.Getenv("WORK")))
		if dir := os.Getenv("IMGX_GOLDEN_DIR"); dir != "" {
			ts.Check(os.WriteFile(filepath.Join(dir, filepath.Base(args[0])), []byte(got), 0o644))
			return
		}
		want := ts.ReadFile(args[0])
		if got != want {
			ts.Logf("normalised stdout:\n%s", got)
			ts.Fatalf("stdout differs from %s", args[0])
		}
	},
}

// ttyCmds are script commands only some systems have (tty_linux_test.go).
var ttyCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){}

// TestJSONDocErrorCodes: the error codes documented are exactly the codes errcode gives.
func TestJSONDocErrorCodes(t *testing.T) {
	s, err := loadJSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.codes, errcode.All) {
		t.Errorf("docs/json.md error codes %q, errcode.All %q", s.codes, errcode.All)
	}
}

// TestJSONEveryCommandDocumented: every command whose --help offers --json has a section
// in docs/json.md, and every section is a command that offers --json. The commands are
// the cmd_*.go files, so a new command is not forgotten.
func TestJSONEveryCommandDocumented(t *testing.T) {
	s, err := loadJSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("cmd_*.go")
	bin := imgxBin(t)
	withJSON := map[string]bool{}
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(f, "cmd_"), ".go")
		if strings.Contains(name, "_") {
			continue // a helper file of a command (cmd_tag_semver.go)
		}
		out, _ := exec.Command(bin, name, "--help").CombinedOutput()
		if !strings.Contains(string(out), "Usage") && !strings.Contains(string(out), "usage") {
			t.Fatalf("imgx %s --help printed no usage: %s", name, out)
		}
		if strings.Contains(string(out), "--json") {
			withJSON[name] = true
		}
	}
	for name := range withJSON {
		if s.keys[name] == nil {
			t.Errorf("imgx %s has --json but docs/json.md has no section for it", name)
		}
	}
	for name := range s.keys {
		if name != failureSection && !withJSON[name] {
			t.Errorf("docs/json.md documents imgx %s, which has no --json", name)
		}
	}
	if len(withJSON) < 12 {
		t.Errorf("only %d commands offer --json: %v", len(withJSON), withJSON)
	}
}

// TestJSONPullPush checks push, push --all and pull --json against docs/json.md, with an
// in-process registry (pull and push need one; json_all.txtar covers the rest).
func TestJSONPullPush(t *testing.T) {
	s, err := loadJSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	bin, dir := imgxBin(t), t.TempDir()
	run := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "HOME="+dir, "DOCKER_CONFIG="+dir+"/docker", "XDG_CONFIG_HOME="+dir+"/config")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("imgx %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
		}
		return out
	}
	if err := os.MkdirAll(filepath.Join(dir, "root/etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "root/etc/conf"), []byte("x\n"), 0o644)
	if out, err := exec.Command("tar", "-C", filepath.Join(dir, "root"), "-cf", filepath.Join(dir, "root.tar"), ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}
	sender, receiver := filepath.Join(dir, "sender"), filepath.Join(dir, "receiver")
	run("--store", sender, "import", filepath.Join(dir, "root.tar"), "example/app:1")
	run("--store", sender, "import", filepath.Join(dir, "root.tar"), "example/web:2")

	for _, tc := range []struct {
		cmd  string
		args []string
	}{
		{"push", []string{"--store", sender, "push", "--insecure", "--progress", "none", "--json", "example/app:1", host + "/one/app:1"}},
		{"push", []string{"--store", sender, "push", "--insecure", "--progress", "none", "--json", "--all", host + "/mirror"}},
		{"pull", []string{"--store", receiver, "pull", "--insecure", "--progress", "none", "--json", host + "/mirror/example/web:2"}},
	} {
		out := run(tc.args...)
		if err := s.check(tc.cmd, out); err != nil {
			t.Error(err)
		}
		var m map[string]any
		json.Unmarshal(out, &m)
		if d, _ := m["digest"].(string); tc.cmd == "pull" && !strings.HasPrefix(d, "sha256:") {
			t.Errorf("pull --json digest %q", d)
		}
	}

	// A pull of a tag the registry lacks fails with the failure document.
	cmd := exec.Command(bin, "--store", receiver, "pull", "--insecure", "--progress", "none", "--json", host+"/mirror/example/none:1")
	cmd.Env = append(os.Environ(), "HOME="+dir, "DOCKER_CONFIG="+dir+"/docker")
	out, err := cmd.Output()
	if err == nil {
		t.Fatalf("pull of a missing tag succeeded: %s", out)
	}
	if err := s.check("pull", out); err != nil {
		t.Error(err)
	}
	var f struct{ Error, Code string }
	if json.Unmarshal(out, &f); f.Code != errcode.NotFound || f.Error == "" {
		t.Errorf("pull of a missing tag: %s", out)
	}
}

// TestJSONSchemaCheck: the checker the scripts use rejects what breaks the contract.
func TestJSONSchemaCheck(t *testing.T) {
	s, err := loadJSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		doc  string
		want string // "" for a document that keeps the contract
	}{
		{`{"schema_version": 1, "images": []}`, ""},
		{`{"schema_version": 1, "images": [{"repository": "a", "platforms": []}]}`, ""},
		{`{"schema_version": 1, "error": "no store at /x", "code": "not_found"}`, ""},
		{`{"schema_version": 1, "images": null}`, "images is null"},
		{`{"schema_version": 1, "images": [{"Repository": "a"}]}`, "key images[].Repository is not documented"},
		{`{"schema_version": 1, "images": [], "extra": 1}`, "key extra is not documented"},
		{`{"images": []}`, "schema_version"},
		{`{"schema_version": 2, "images": []}`, "schema_version"},
		{`[{"repository": "a"}]`, "not an object"},
		{`{"schema_version": 1, "images": []} {}`, "more than one"},
		{`{"schema_version": 1, "error": "x", "code": "other", "images": []}`, "key images is not documented"},
	} {
		err := s.check("images", []byte(tc.doc))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.doc, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want an error with %q", tc.doc, err, tc.want)
		}
	}
	if err := s.check("nosuch", []byte(`{"schema_version": 1}`)); err == nil {
		t.Error("a command without a section passed")
	}
}

// TestJSONSaveDestinations: the document of a save with several -o (destinations,
// failed, a failed destination's error and code, no output) keeps docs/json.md's
// contract; the testscript save_many.txtar checks a real run.
func TestJSONSaveDestinations(t *testing.T) {
	s, err := loadJSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	out := &outputResult{Location: "a/x.imgx", Size: 3, SHA256: "abc", failed: 1, destinations: []destinationJSON{
		{Location: "a/x.imgx", Status: "verified", Size: 3, SHA256: "abc"},
		{Location: "b/x.imgx", Status: "failed", Error: "write b/x.imgx: boom", Code: "other"},
	}}
	d := saveJSON{jsonDoc: doc, Format: "imgx", Images: []savedJSON{}, Signers: []string{}}.withOutputs(out)
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.check("save", b); err != nil {
		t.Error(err)
	}
	if strings.Contains(string(b), `"output"`) || !strings.Contains(string(b), `"failed":1`) {
		t.Errorf("several -o: %s", b)
	}
}
