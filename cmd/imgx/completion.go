package main

import (
	"context"
	"slices"
)

// Shell completion: the scripts are cobra's; they call the hidden `imgx __complete ARGS…`,
// which answers from the functions in completion_args.go. Completing never writes anything: image names
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
