package main

import (
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/imgx/imgx/store"
)

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
// default), or nothing when there is no complete store there (store.PeekNames).
func storeImageNames(dir string) []string {
	if dir == "" {
		d, err := store.DefaultRoot(os.Getenv)
		if err != nil {
			return nil
		}
		dir = d
	}
	return store.PeekNames(dir)
}
