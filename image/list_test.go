package image

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgx/imgx/store"
)

func TestList(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	label := func(kv ...string) ImportOptions {
		return ImportOptions{Changes: func(c *v1.Config) error {
			c.Labels = map[string]string{}
			for i := 0; i < len(kv); i += 2 {
				c.Labels[kv[i]] = kv[i+1]
			}
			return nil
		}}
	}
	core, err := importTar(t, s, tarOf(t, entry{name: "a", body: "1"}), "example/app:1", label("team", "core"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := importTar(t, s, tarOf(t, entry{name: "b", body: "2"}), "web:2", label("team", "web", "tier", "front")); err != nil {
		t.Fatal(err)
	}
	broken, err := importTar(t, s, tarOf(t, entry{name: "c", body: "3"}), "broken:3", label())
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(s.BlobPath(broken.Digest)) // its manifest: listed from the index entry, with a warning

	for _, tc := range []struct {
		filters []string
		want    string // repository:tag of each row
	}{
		{nil, "example/app:1 web:2 broken:3 "},
		{[]string{"label=team"}, "example/app:1 web:2 "},
		{[]string{"label=team=core"}, "example/app:1 "},
		{[]string{"label=team", "label=tier=front"}, "web:2 "},
		{[]string{"label=nope"}, ""},
	} {
		var warned []string
		rows, err := List(ctx, s, ListOptions{Filters: tc.filters, Warn: func(name string, err error) { warned = append(warned, name) }})
		if err != nil {
			t.Fatal(err)
		}
		var got strings.Builder
		for _, r := range rows {
			got.WriteString(r.Repository + ":" + r.Tag + " ")
		}
		if got.String() != tc.want || len(warned) != 1 || warned[0] != "broken:3" {
			t.Errorf("List(%q) = %q, warned %q; want %q", tc.filters, got.String(), warned, tc.want)
		}
		if rows == nil {
			t.Errorf("List(%q) = nil, want an empty list", tc.filters)
		}
	}
	rows, _ := List(ctx, s, ListOptions{})
	im, err := Load(ctx, s, core, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := rows[0]; r.ID != im.ID().String() || r.Digest != core.Digest.String() || r.Size != im.Size() || r.Labels["team"] != "core" {
		t.Errorf("row %+v; want ID %s, digest %s, size %d", r, im.ID(), core.Digest, im.Size())
	}
	for _, bad := range []string{"label", "label=", "name=x", "team=core"} {
		if _, err := List(ctx, s, ListOptions{Filters: []string{bad}}); !errors.Is(err, ErrFilter) {
			t.Errorf("filter %q: %v, want ErrFilter", bad, err)
		}
	}
}
