package semtag

import (
	"reflect"
	"sort"
	"strings"
	"testing"
)

func TestPlanTags(t *testing.T) {
	tests := []struct {
		name     string
		version  string
		existing []string
		want     Plan
	}{
		{"first release", "1.0.0", nil,
			Plan{Version: "1.0.0", Set: []string{"1.0.0", "1.0", "1", "latest"}}},
		{"newer patch moves everything", "1.9.5", []string{"1.9.4", "1.9", "1", "latest", "2.0.0-rc.1"},
			Plan{Version: "1.9.5", Set: []string{"1.9.5", "1.9", "1", "latest"}}},
		{"patch older than existing: 1.9 stays", "1.9.2", []string{"1.9.4", "1.9.3", "1.10.0", "latest", "1.9"},
			Plan{Version: "1.9.2", Set: []string{"1.9.2"}, Skipped: []Skip{
				{Tag: "1.9", Newest: "1.9.4", Reason: "1.9.4 is newer than 1.9.2"},
				{Tag: "1", Newest: "1.10.0", Reason: "1.10.0 is newer than 1.9.2"},
				{Tag: "latest", Newest: "1.10.0", Reason: "1.10.0 is newer than 1.9.2"},
			}}},
		{"fix on an old minor line moves only X.Y", "1.8.7", []string{"1.8.6", "1.9.0"},
			Plan{Version: "1.8.7", Set: []string{"1.8.7", "1.8"}, Skipped: []Skip{
				{Tag: "1", Newest: "1.9.0", Reason: "1.9.0 is newer than 1.8.7"},
				{Tag: "latest", Newest: "1.9.0", Reason: "1.9.0 is newer than 1.8.7"},
			}}},
		{"new minor", "1.10.0", []string{"1.9.4", "1.2.0", "latest"},
			Plan{Version: "1.10.0", Set: []string{"1.10.0", "1.10", "1", "latest"}}},
		{"older major line: latest stays", "1.9.5", []string{"1.9.4", "2.0.0", "2.1.3"},
			Plan{Version: "1.9.5", Set: []string{"1.9.5", "1.9", "1"}, Skipped: []Skip{
				{Tag: "latest", Newest: "2.1.3", Reason: "2.1.3 is newer than 1.9.5"},
			}}},
		{"new major", "3.0.0", []string{"2.9.9", "10.0.0-alpha"},
			Plan{Version: "3.0.0", Set: []string{"3.0.0", "3.0", "3", "latest"}}},
		{"numeric not lexical order", "1.10.0", []string{"1.9.0", "1.2.0"},
			Plan{Version: "1.10.0", Set: []string{"1.10.0", "1.10", "1", "latest"}}},
		{"same version again: moves, reports existing", "1.2.3", []string{"1.2.3", "1.2", "1", "latest"},
			Plan{Version: "1.2.3", Set: []string{"1.2.3", "1.2", "1", "latest"}, Exists: true}},
		{"release after its rc", "2.0.0", []string{"2.0.0-rc.2", "1.5.0"},
			Plan{Version: "2.0.0", Set: []string{"2.0.0", "2.0", "2", "latest"}}},
		{"pre-release gets only its exact tag", "1.2.3-rc.1", []string{"1.2.2"},
			Plan{Version: "1.2.3-rc.1", Set: []string{"1.2.3-rc.1"}, Skipped: []Skip{
				{Tag: "1.2", Reason: "1.2.3-rc.1 is a pre-release: only its exact tag is set"},
				{Tag: "1", Reason: "1.2.3-rc.1 is a pre-release: only its exact tag is set"},
				{Tag: "latest", Reason: "1.2.3-rc.1 is a pre-release: only its exact tag is set"},
			}}},
		{"pre-release already tagged", "1.2.3-rc.1", []string{"1.2.3-rc.1"},
			Plan{Version: "1.2.3-rc.1", Set: []string{"1.2.3-rc.1"}, Exists: true, Skipped: []Skip{
				{Tag: "1.2", Reason: "1.2.3-rc.1 is a pre-release: only its exact tag is set"},
				{Tag: "1", Reason: "1.2.3-rc.1 is a pre-release: only its exact tag is set"},
				{Tag: "latest", Reason: "1.2.3-rc.1 is a pre-release: only its exact tag is set"},
			}}},
		{"leading v accepted, tags written bare", "v1.4.0", []string{"v1.5.0", "1.4.1-beta"},
			Plan{Version: "1.4.0", Set: []string{"1.4.0", "1.4"}, Skipped: []Skip{
				{Tag: "1", Newest: "1.5.0", Reason: "1.5.0 is newer than 1.4.0"},
				{Tag: "latest", Newest: "1.5.0", Reason: "1.5.0 is newer than 1.4.0"},
			}}},
		{"non-semver tags ignored", "0.3.0", []string{"latest", "main", "sha-abc123", "1.2", "01.2.3", "9.9.9+build", "2024.01.15", "0.2.9"},
			Plan{Version: "0.3.0", Set: []string{"0.3.0", "0.3", "0", "latest"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PlanTags(tt.version, tt.existing)
			if err != nil {
				t.Fatalf("PlanTags(%q) error: %v", tt.version, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("PlanTags(%q, %q)\n got %+v\nwant %+v", tt.version, tt.existing, got, tt.want)
			}
		})
	}
}

func TestPlanTagsErrors(t *testing.T) {
	long := "1.0.0-" + strings.Repeat("a", 130)
	tests := []struct{ in, want string }{
		{"1.2", `version "1.2": want MAJOR.MINOR.PATCH, e.g. 1.2.3`},
		{"1.2.3.4", `want MAJOR.MINOR.PATCH`},
		{"abc", `version "abc": want MAJOR.MINOR.PATCH`},
		{"", `version "": want MAJOR.MINOR.PATCH`},
		{"01.2.3", `version "01.2.3": major "01": leading zero`},
		{"1.02.3", `minor "02": leading zero`},
		{"1.2.x", `patch "x": not a number`},
		{"1..3", `minor "": empty number`},
		{"1.2.-3", `patch "": empty number`},
		{"V1.2.3", `major "V1": not a number`},
		{"18446744073709551616.0.0", `major "18446744073709551616": number too large`},
		{"1.2.3-", `pre-release "": empty identifier`},
		{"1.2.3-rc..1", `pre-release "rc..1": empty identifier`},
		{"1.2.3-rc.01", `pre-release "rc.01": identifier "01": leading zero`},
		{"1.2.3-rc_1", `identifier "rc_1": invalid character '_'`},
		{"1.2.3+build.5", `version "1.2.3+build.5": build metadata (+build.5) cannot appear in an image tag`},
		{"1.2.3+", `build metadata "": empty identifier`},
		{long, `tag is 136 characters, the limit is 128`},
	}
	for _, tt := range tests {
		_, err := PlanTags(tt.in, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("PlanTags(%q) error = %v, want it to contain %q", tt.in, err, tt.want)
		}
	}
}

// TestCompare checks the precedence example from semver.org section 11.
func TestCompare(t *testing.T) {
	order := []string{
		"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
		"1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.1.0", "1.10.0", "2.0.0",
		"2.0.1-99999999999999999999999", "2.0.1-100000000000000000000000", "2.0.1-a",
	}
	vs := make([]Version, len(order))
	for i, s := range order {
		v, err := Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		vs[i] = v
	}
	for i := range vs {
		for j := range vs {
			if got, want := Compare(vs[i], vs[j]), cmpInt(i, j); got != want {
				t.Errorf("Compare(%s, %s) = %d, want %d", order[i], order[j], got, want)
			}
		}
	}
	a, _ := Parse("1.0.0+one")
	b, _ := Parse("1.0.0+two")
	if Compare(a, b) != 0 {
		t.Errorf("build metadata must not affect precedence")
	}
	shuffled := []string{"1.10.0", "1.0.0-rc.1", "1.2.0", "1.0.0"}
	sort.Slice(shuffled, func(i, j int) bool {
		x, _ := Parse(shuffled[i])
		y, _ := Parse(shuffled[j])
		return Compare(x, y) < 0
	})
	if want := []string{"1.0.0-rc.1", "1.0.0", "1.2.0", "1.10.0"}; !reflect.DeepEqual(shuffled, want) {
		t.Errorf("sorted = %v, want %v", shuffled, want)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"1.2.3", "v0.0.0", "1.2.3-rc.1+b.01", "01.2.3", "1.2", "1.0.0-0A.is.legal", "99999999999999999999.0.0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := Parse(s)
		if err != nil {
			return
		}
		if Compare(v, v) != 0 {
			t.Fatalf("Compare(%s, itself) != 0", s)
		}
		again, err := Parse(v.String())
		if err != nil || !reflect.DeepEqual(again, v) {
			t.Fatalf("Parse(%q).String() = %q does not round-trip: %+v, %v", s, v.String(), again, err)
		}
		if p, err := PlanTags(s, []string{s}); err == nil {
			if p.Set[0] != v.String() || !p.Exists && !strings.HasPrefix(s, "v") {
				t.Fatalf("PlanTags(%q) = %+v", s, p)
			}
			for _, tag := range p.Set {
				if len(tag) > 128 || strings.ContainsAny(tag, "+/: ") {
					t.Fatalf("PlanTags(%q) produced invalid tag %q", s, tag)
				}
			}
		}
	})
}
