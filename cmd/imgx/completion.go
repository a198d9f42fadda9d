package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/imgx/imgx/store"
)

// Shell completion: the scripts are cobra's; they call the hidden `imgx __complete ARGS…`,
// which answers from the functions below. Completing never writes anything: image names
// come from an existing store only.

var completionShells = []string{"bash", "zsh", "fish", "powershell"}

func init() {
	register(&Command{
		Name:  "completion",
		Usage: "bash|zsh|fish|powershell",
		Short: "Print a shell completion script",
		Long: `Completion prints the completion script for a shell. It completes commands, flags,
the names of the images in the store (--store or $IMGX_STORE) and bundle files (*.imgx)
for -i/--input and LOCATION arguments.`,
		Example: `  source <(imgx completion bash)                              # this shell
  imgx completion bash > /etc/bash_completion.d/imgx          # every bash
  imgx completion zsh > "${fpath[1]}/_imgx"                   # zsh (with compinit)
  imgx completion fish > ~/.config/fish/completions/imgx.fish
  imgx completion powershell | Out-String | Invoke-Expression`,
		Args: func(args []string) error {
			if len(args) != 1 || !slices.Contains(completionShells, args[0]) {
				return usagef("expected one shell: %s", orList(completionShells))
			}
			return nil
		},
		Run: func(ctx context.Context, e *Env, args []string) error {
			// A tree of its own: newRoot binds every flag afresh, e's --store included.
			root := newRoot(ctx, &Env{Stdin: e.Stdin, Stdout: e.Stdout, Stderr: e.Stderr})
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(e.Stdout, true)
			case "zsh":
				return root.GenZshCompletion(e.Stdout)
			case "fish":
				return root.GenFishCompletion(e.Stdout, true)
			default:
				return root.GenPowerShellCompletionWithDesc(e.Stdout)
			}
		},
	})
}

// argKind is what a positional argument names, read from the command's Usage.
type argKind struct {
	image, bundle, file, dir bool
	choices                  []string
}

// usageArgs reads the positional arguments of a Usage line such as
// "[flags] [-o LOCATION] IMAGE..." or "--key KEY [--key KEY]... BUNDLE": bracketed groups
// and flags (with their value) are skipped, only the first of "A | B" alternatives counts.
// variadic reports a last argument that repeats ("IMAGE...").
func usageArgs(usage string) (args []argKind, variadic bool) {
	first, _, _ := strings.Cut(usage, " | ")
	depth, skipNext := 0, false
	for _, tok := range strings.Fields(first) {
		start := depth
		depth += strings.Count(tok, "[") - strings.Count(tok, "]")
		switch {
		case start > 0 || strings.HasPrefix(tok, "["):
			continue
		case skipNext:
			skipNext = false
			continue
		case strings.HasPrefix(tok, "-") && tok != "-":
			skipNext = true
			continue
		}
		name, rep := strings.CutSuffix(tok, "...")
		variadic = rep
		args = append(args, kindOf(name))
	}
	return args, variadic
}

func kindOf(name string) argKind {
	if name == strings.ToLower(name) && strings.Contains(name, "|") {
		return argKind{choices: strings.Split(name, "|")}
	}
	base, _, _ := strings.Cut(name, "[")
	base, _, _ = strings.Cut(base, "|")
	switch base {
	case "IMAGE", "REF", "SRC", "A", "B":
		return argKind{image: true}
	case "LOCATION", "BUNDLE":
		return argKind{bundle: true}
	case "FILE":
		return argKind{file: true}
	case "DIR":
		return argKind{dir: true}
	}
	return argKind{}
}

// argCompletion completes a command's positional arguments by their kind.
func argCompletion(e *Env, c *Command) cobra.CompletionFunc {
	kinds, variadic := usageArgs(c.Usage)
	return func(cc *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		i := len(args)
		if i >= len(kinds) {
			if !variadic || len(kinds) == 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			i = len(kinds) - 1
		}
		return complete(e, kinds[i], toComplete)
	}
}

func complete(e *Env, k argKind, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	switch {
	case k.choices != nil:
		return prefixed(k.choices, toComplete), cobra.ShellCompDirectiveNoFileComp
	case k.image:
		return prefixed(storeImageNames(e.storeDir), toComplete), cobra.ShellCompDirectiveNoFileComp
	case k.bundle:
		return []cobra.Completion{"imgx"}, cobra.ShellCompDirectiveFilterFileExt
	case k.dir:
		return nil, cobra.ShellCompDirectiveFilterDirs
	case k.file:
		return nil, cobra.ShellCompDirectiveDefault
	}
	return nil, cobra.ShellCompDirectiveNoFileComp
}

// registerFlagCompletions completes -i/--input and save --since with bundle files and the
// fixed-choice flags with their words.
func registerFlagCompletions(e *Env, cc *cobra.Command) {
	cc.Flags().VisitAll(func(f *pflag.Flag) {
		var k argKind
		switch v := f.Value.(type) {
		case *enumValue:
			k.choices = v.choices
		default:
			if f.Name != "input" && f.Name != "since" {
				return
			}
			k.bundle = true
		}
		_ = cc.RegisterFlagCompletionFunc(f.Name, func(cc *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			return complete(e, k, toComplete)
		})
	})
}

func prefixed(words []string, prefix string) []cobra.Completion {
	var out []cobra.Completion
	for _, w := range words {
		if strings.HasPrefix(w, prefix) {
			out = append(out, w)
		}
	}
	return out
}

// storeImageNames lists the tagged images of the store at dir (else $IMGX_STORE or the
// default), or nothing when there is no complete store there: completion must never
// create one, and store.Open creates what is missing.
func storeImageNames(dir string) []string {
	if dir == "" {
		d, err := store.DefaultRoot(os.Getenv)
		if err != nil {
			return nil
		}
		dir = d
	}
	// What store.Open would otherwise create.
	for _, p := range []string{"oci-layout", "index.json", "blobs/sha256", ".imgx/staged/sha256", ".imgx/ingest", ".imgx/lock", ".imgx/active"} {
		if _, err := os.Lstat(filepath.Join(dir, p)); err != nil {
			return nil
		}
	}
	s, err := store.Open(dir)
	if err != nil {
		return nil
	}
	entries, err := s.Entries()
	if err != nil {
		return nil
	}
	var names []string
	for _, en := range entries {
		if !en.Ref.IsZero() {
			names = append(names, en.Ref.Familiar())
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}
