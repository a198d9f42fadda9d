package main

import (
	"fmt"
	"testing"
)

// TestUsageArgs: what each positional argument of a Usage line completes to.
func TestUsageArgs(t *testing.T) {
	kind := func(k argKind) string {
		switch {
		case k.choices != nil:
			return fmt.Sprint(k.choices)
		case k.image:
			return "image"
		case k.bundle:
			return "bundle"
		case k.file:
			return "file"
		case k.dir:
			return "dir"
		}
		return "-"
	}
	for _, tc := range []struct {
		usage    string
		want     string
		variadic bool
	}{
		{"[flags] [-o LOCATION] IMAGE...", "[image]", true},
		{"--key KEY [--key KEY]... BUNDLE", "[bundle]", false},
		{"[--key PUB]... [--threshold K] [--digest-only] [--fast] [--json] LOCATION", "[bundle]", false},
		{"[flags] A B | REF --layer N", "[image image]", false},
		{"[flags] SRC DST... | --semver X.Y.Z SRC REPO", "[image -]", true},
		{"[flags] REF DIR", "[image dir]", false},
		{"[flags] FILE|- NAME[:TAG]", "[file -]", false},
		{"[flags] NAME[:TAG|@DIGEST]", "[-]", false},
		{"[flags] [-i LOCATION]", "[]", false},
		{"bash|zsh|fish|powershell", "[[bash zsh fish powershell]]", false},
		{"", "[]", false},
	} {
		args, variadic := usageArgs(tc.usage)
		got := "["
		for i, a := range args {
			if i > 0 {
				got += " "
			}
			got += kind(a)
		}
		got += "]"
		if got != tc.want || variadic != tc.variadic {
			t.Errorf("usageArgs(%q) = %s, variadic %v; want %s, %v", tc.usage, got, variadic, tc.want, tc.variadic)
		}
	}
}
