package registry_test

import (
	"testing"

	"github.com/imgx/imgx/ref"
	"github.com/imgx/imgx/registry"
)

func TestDestinationNames(t *testing.T) {
	mustRef := func(s string) ref.Ref {
		r, err := ref.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	dest := []struct{ src, dst, want string }{
		{"app:1.2", "reg.lan:5000/apps/app", "reg.lan:5000/apps/app:1.2"},
		{"app:1.2", "reg.lan:5000/apps/app:stable", "reg.lan:5000/apps/app:stable"},
		{"app:1.2", "reg.lan:5000/apps/app@sha256:" + sixtyFour, "reg.lan:5000/apps/app@sha256:" + sixtyFour},
		{"app:1.2", "localhost:5000/app", "localhost:5000/app:1.2"},
	}
	for _, tc := range dest {
		if got := registry.Destination(mustRef(tc.src), tc.dst); got != tc.want {
			t.Errorf("Destination(%s, %s) = %s, want %s", tc.src, tc.dst, got, tc.want)
		}
	}
	under := []struct{ src, prefix, want string }{
		{"debian:bookworm", "reg.lan:5000/mirror", "reg.lan:5000/mirror/library/debian:bookworm"},
		{"ghcr.io/org/tool:2", "reg.lan:5000/mirror/", "reg.lan:5000/mirror/org/tool:2"},
		{"reg.lan:5000/base/debian:12", "reg.lan:5000/site", "reg.lan:5000/site/base/debian:12"},
	}
	for _, tc := range under {
		if got := registry.UnderPrefix(tc.prefix, mustRef(tc.src)); got != tc.want {
			t.Errorf("UnderPrefix(%s, %s) = %s, want %s", tc.prefix, tc.src, got, tc.want)
		}
	}
	for _, p := range []string{"reg.lan:5000/mirror", "127.0.0.1:5000/a/b", "reg.lan/mirror/"} {
		if err := registry.CheckPrefix(p); err != nil {
			t.Errorf("CheckPrefix(%s): %v", p, err)
		}
	}
	for _, p := range []string{"mirror", "reg.lan:5000", "reg.lan:5000/UPPER", "reg.lan:5000/a:tag"} {
		if err := registry.CheckPrefix(p); err == nil {
			t.Errorf("CheckPrefix(%s) accepted", p)
		}
	}
}

const sixtyFour = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
