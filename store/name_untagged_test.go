package store

import (
	"context"
	"errors"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/ref"
)

// TestNameUntagged: load --tag names the one image a transaction adds without a name, in
// the same commit; with none or several it changes nothing and says how many.
func TestNameUntagged(t *testing.T) {
	type op struct {
		image int    // 0 or 1
		tag   string // "" untagged
	}
	cases := []struct {
		name    string
		ops     []op
		want    map[string]int // tag -> image after the commit
		wantErr string
	}{
		{name: "one untagged", ops: []op{{0, ""}}, want: map[string]int{"site/app:1": 0}},
		{name: "tagged and one untagged", ops: []op{{1, "web:1"}, {0, ""}}, want: map[string]int{"web:1": 1, "site/app:1": 0}},
		{name: "untagged twice is one", ops: []op{{0, ""}, {0, ""}}, want: map[string]int{"site/app:1": 0}},
		{name: "an image also tagged is named", ops: []op{{0, "web:1"}, {0, ""}}, wantErr: "1 image, none untagged"},
		{name: "none", ops: []op{{0, "web:1"}, {1, "web:2"}}, wantErr: "2 images, none untagged"},
		{name: "two", ops: []op{{0, ""}, {1, ""}}, wantErr: "2 images, 2 untagged"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			s := newStore(t)
			tx, err := s.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Discard()
			d := []ocispec.Descriptor{stageImage(t, tx, []byte{0}), stageImage(t, tx, []byte{1})}
			for _, o := range c.ops {
				var r ref.Ref
				if o.tag != "" {
					r = mustRef(t, o.tag)
				}
				tx.Tag(r, d[o.image])
			}
			err = tx.NameUntagged(mustRef(t, "site/app:1"))
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) || !errors.Is(err, ErrTagTarget) {
					t.Fatalf("NameUntagged = %v, want ErrTagTarget saying %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			entries, err := s.Entries()
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int{}
			for _, e := range entries {
				if e.Ref.IsZero() {
					t.Errorf("an untagged entry is left: %s", e.Desc.Digest)
					continue
				}
				for i := range d {
					if d[i].Digest == e.Desc.Digest {
						got[e.Ref.Familiar()] = i
					}
				}
			}
			if len(got) != len(c.want) {
				t.Fatalf("tags %v, want %v", got, c.want)
			}
			for k, v := range c.want {
				if g, ok := got[k]; !ok || g != v {
					t.Errorf("tags %v, want %v", got, c.want)
				}
			}
		})
	}
}
