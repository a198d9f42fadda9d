package main

import (
	"archive/tar"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/imgx/imgx/internal/testserver"
)

// bashCompletion is where Debian's bash-completion package puts the library that cobra's
// bash script needs (_get_comp_words_by_ref), as every interactive bash with completion
// has it loaded.
const bashCompletion = "/usr/share/bash-completion/bash_completion"

// completionKit is a PATH directory whose imgx is this test binary, and a store holding
// app:1 and web:2, for the generated scripts to call `imgx __complete …` against.
type completionKit struct {
	env  []string
	dir  string
	imgx string
}

func newCompletionKit(t *testing.T) *completionKit {
	t.Helper()
	bin := imgxBin(t)
	k := &completionKit{dir: t.TempDir(), imgx: bin}
	k.env = append(os.Environ(), "PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"IMGX_STORE="+filepath.Join(k.dir, "store"), "HOME="+k.dir, "XDG_CONFIG_HOME="+filepath.Join(k.dir, ".config"))
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "f", Mode: 0o644, Size: 1, Typeflag: tar.TypeReg})
	tw.Write([]byte("x"))
	tw.Close()
	rootfs := filepath.Join(k.dir, "r.tar")
	if err := os.WriteFile(rootfs, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"app:1", "web:2"} {
		k.run(t, k.imgx, "import", rootfs, name)
	}
	return k
}

// run runs the program at path prog in the kit's environment and returns its stdout.
func (k *completionKit) run(t *testing.T, prog string, args ...string) string {
	t.Helper()
	cmd := exec.Command(prog, args...)
	cmd.Env, cmd.Dir = k.env, k.dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", prog, strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// script writes imgx's completion script for shell into the kit's directory.
func (k *completionKit) script(t *testing.T, shell string) string {
	t.Helper()
	p := filepath.Join(k.dir, "imgx-completion."+shell)
	if err := os.WriteFile(p, []byte(k.run(t, k.imgx, "completion", shell)), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// completionCases are the lines completed, the cursor at the end, and what the
// candidates must include (and exclude).
var completionCases = []struct {
	line      string // words typed, ending in the one being completed
	want, not []string
}{
	{line: "imgx rm", want: []string{"rmi"}, not: []string{"tag"}},
	{line: "imgx rmi ", want: []string{"app:1", "web:2"}},
	{line: "imgx inspect we", want: []string{"web:2"}, not: []string{"app:1"}},
}

func checkCandidates(t *testing.T, shell, line string, got []string, want, not []string) {
	t.Helper()
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("%s: completing %q offers %q, want %q among them", shell, line, got, w)
		}
	}
	for _, n := range not {
		if slices.Contains(got, n) {
			t.Errorf("%s: completing %q offers %q, which is not a completion of it", shell, line, n)
		}
	}
}

// TestCompletionBash sources the generated script in a real bash with bash-completion
// loaded, as an interactive shell has it, and calls the function bash calls on TAB.
func TestCompletionBash(t *testing.T) {
	bash := testserver.HostTool(t, "bash", "apt-get install bash")
	_, err := os.Stat(bashCompletion)
	testserver.HostCapability(t, "bash-completion", err, "apt-get install bash-completion")
	k := newCompletionKit(t)
	script := k.script(t, "bash")
	for _, c := range completionCases {
		words := strings.Split(c.line, " ")
		prog := `source "$1"; source "$2"
shift 2
COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
COMPREPLY=()
__start_imgx imgx "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"`
		out := k.run(t, bash, append([]string{"--norc", "--noprofile", "-c", prog, "bash", bashCompletion, script}, words...)...)
		checkCandidates(t, "bash", c.line, fields(out), c.want, c.not)
	}
}

// TestCompletionZsh sources the generated script in a real zsh and runs its completion
// function with the words zsh passes; zle's compadd and _describe, which only exist in
// an interactive completion widget, are stood in for by functions that print what they
// are given.
func TestCompletionZsh(t *testing.T) {
	zsh := testserver.HostTool(t, "zsh", "apt-get install zsh")
	k := newCompletionKit(t)
	script := k.script(t, "zsh")
	for _, c := range completionCases {
		words := strings.Split(c.line, " ")
		prog := `compdef() { :; }
_describe() {
  # _describe [-V] DESCRIPTION ARRAY …: print the array's values (before an unescaped :)
  local a=${@[(r)completions]}; shift ${@[(i)completions]}
  local c; for c in "${(@P)1}"; do print -r -- "${${c%%(#b)([^\\]):*}//\\:/:}${match[1]}"; done
}
compadd() { :; }
_arguments() { :; }
_files() { :; }
setopt extendedglob
source "$1"; shift
words=("$@"); CURRENT=${#words}
_imgx`
		out := k.run(t, zsh, append([]string{"-f", "-c", prog, "zsh", script}, words...)...)
		checkCandidates(t, "zsh", c.line, fields(out), c.want, c.not)
	}
}

// TestCompletionFish asks a real fish for the completions of each line (complete -C is
// what fish runs on TAB).
func TestCompletionFish(t *testing.T) {
	fish := testserver.HostTool(t, "fish", "apt-get install fish")
	k := newCompletionKit(t)
	script := k.script(t, "fish")
	for _, c := range completionCases {
		out := k.run(t, fish, "--no-config", "-c", `source $argv[1]; complete -C $argv[2]`, script, c.line)
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			v, _, _ := strings.Cut(l, "\t") // candidate TAB description
			got = append(got, v)
		}
		checkCandidates(t, "fish", c.line, got, c.want, c.not)
	}
}

func fields(s string) []string { return strings.Fields(s) }
