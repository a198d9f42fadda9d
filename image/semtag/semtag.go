package semtag

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Version is a parsed semantic version.
type Version struct {
	Major, Minor, Patch uint64
	Pre                 []string // pre-release identifiers, nil for a release
	Build               []string // build metadata identifiers (ignored for precedence)
}

// maxTagLen is the longest image tag the distribution spec allows.
const maxTagLen = 128

// Parse parses a Semantic Versioning 2.0.0 version with an optional leading
// "v", e.g. "1.2.3", "v1.2.3-rc.1" or "1.2.3+build.5".
func Parse(s string) (Version, error) {
	v, err := parse(strings.TrimPrefix(s, "v"))
	if err != nil {
		return Version{}, fmt.Errorf("version %q: %w", s, err)
	}
	return v, nil
}

func parse(s string) (Version, error) {
	var v Version
	core, build, hasBuild := strings.Cut(s, "+")
	core, pre, hasPre := strings.Cut(core, "-")
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return v, errors.New("want MAJOR.MINOR.PATCH, e.g. 1.2.3")
	}
	dst := []*uint64{&v.Major, &v.Minor, &v.Patch}
	for i, name := range []string{"major", "minor", "patch"} {
		n, err := number(parts[i])
		if err != nil {
			return v, fmt.Errorf("%s %q: %w", name, parts[i], err)
		}
		*dst[i] = n
	}
	if hasPre {
		ids, err := identifiers(pre, true)
		if err != nil {
			return v, fmt.Errorf("pre-release %q: %w", pre, err)
		}
		v.Pre = ids
	}
	if hasBuild {
		ids, err := identifiers(build, false)
		if err != nil {
			return v, fmt.Errorf("build metadata %q: %w", build, err)
		}
		v.Build = ids
	}
	return v, nil
}

func number(s string) (uint64, error) {
	if s == "" {
		return 0, errors.New("empty number")
	}
	if !isNumeric(s) {
		return 0, errors.New("not a number")
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, errors.New("leading zero")
	}
	var n uint64
	for _, c := range s {
		d := uint64(c - '0')
		if n > (1<<64-1-d)/10 {
			return 0, errors.New("number too large")
		}
		n = n*10 + d
	}
	return n, nil
}

func isNumeric(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// identifiers checks dot-separated [0-9A-Za-z-] identifiers; numeric
// pre-release identifiers must not have leading zeros.
func identifiers(s string, pre bool) ([]string, error) {
	ids := strings.Split(s, ".")
	for _, id := range ids {
		if id == "" {
			return nil, errors.New("empty identifier")
		}
		for i := 0; i < len(id); i++ {
			c := id[i]
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-') {
				return nil, fmt.Errorf("identifier %q: invalid character %q", id, c)
			}
		}
		if pre && isNumeric(id) && len(id) > 1 && id[0] == '0' {
			return nil, fmt.Errorf("identifier %q: leading zero", id)
		}
	}
	return ids, nil
}

// String formats v without a leading "v".
func (v Version) String() string {
	s := fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
	if len(v.Pre) > 0 {
		s += "-" + strings.Join(v.Pre, ".")
	}
	if len(v.Build) > 0 {
		s += "+" + strings.Join(v.Build, ".")
	}
	return s
}

// IsPrerelease reports whether v has pre-release identifiers.
func (v Version) IsPrerelease() bool { return len(v.Pre) > 0 }

// Compare returns -1, 0 or +1 by semver precedence; build metadata is
// ignored.
func Compare(a, b Version) int {
	for _, d := range [][2]uint64{{a.Major, b.Major}, {a.Minor, b.Minor}, {a.Patch, b.Patch}} {
		if d[0] != d[1] {
			if d[0] < d[1] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a.Pre) == 0 && len(b.Pre) == 0:
		return 0
	case len(a.Pre) == 0:
		return 1 // a release is newer than its pre-releases
	case len(b.Pre) == 0:
		return -1
	}
	for i := 0; i < len(a.Pre) && i < len(b.Pre); i++ {
		if c := compareIdent(a.Pre[i], b.Pre[i]); c != 0 {
			return c
		}
	}
	return cmpInt(len(a.Pre), len(b.Pre))
}

func compareIdent(x, y string) int {
	xn, yn := isNumeric(x), isNumeric(y)
	switch {
	case xn && yn:
		// No leading zeros, so longer means larger, whatever the size.
		if c := cmpInt(len(x), len(y)); c != 0 {
			return c
		}
		return strings.Compare(x, y)
	case xn:
		return -1
	case yn:
		return 1
	}
	return strings.Compare(x, y)
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Plan says which tags to point at the new image and which to leave alone.
type Plan struct {
	Version string   // the new version as tagged: X.Y.Z[-pre], no "v"
	Set     []string // tags to set, exact version first, then X.Y, X, latest
	Skipped []Skip   // moving tags left where they are, in the same order
	Exists  bool     // the exact tag is already in the repository
}

// Skip is a moving tag that stays where it is.
type Skip struct {
	Tag    string // "X.Y", "X" or "latest"
	Newest string // the newer existing release that holds it back; empty for a pre-release
	Reason string // e.g. "1.9.4 is newer than 1.9.2"
}

// PlanTags computes the tags to move for version given the tags that already
// exist in the repository (tags that are not semver are ignored).
func PlanTags(version string, existing []string) (Plan, error) {
	v, err := Parse(version)
	if err != nil {
		return Plan{}, err
	}
	if len(v.Build) > 0 {
		return Plan{}, fmt.Errorf("version %q: build metadata (+%s) cannot appear in an image tag; drop it or record it in a label",
			version, strings.Join(v.Build, "."))
	}
	tag := v.String()
	if len(tag) > maxTagLen {
		return Plan{}, fmt.Errorf("version %q: tag is %d characters, the limit is %d", version, len(tag), maxTagLen)
	}
	p := Plan{Version: tag, Set: []string{tag}}

	minorTag := fmt.Sprintf("%d.%d", v.Major, v.Minor)
	majorTag := fmt.Sprintf("%d", v.Major)
	if v.IsPrerelease() {
		for _, t := range []string{minorTag, majorTag, "latest"} {
			p.Skipped = append(p.Skipped, Skip{Tag: t, Reason: fmt.Sprintf("%s is a pre-release: only its exact tag is set", tag)})
		}
		p.Exists = slices.Contains(existing, tag)
		return p, nil
	}

	var newestMinor, newestMajor, newest *Version
	for _, t := range existing {
		if t == tag {
			p.Exists = true
		}
		e, err := Parse(t)
		if err != nil || e.IsPrerelease() || len(e.Build) > 0 {
			continue
		}
		if e.Major == v.Major && e.Minor == v.Minor {
			newestMinor = newer(newestMinor, e)
		}
		if e.Major == v.Major {
			newestMajor = newer(newestMajor, e)
		}
		newest = newer(newest, e)
	}
	for _, m := range []struct {
		tag    string
		newest *Version
	}{{minorTag, newestMinor}, {majorTag, newestMajor}, {"latest", newest}} {
		if m.newest == nil || Compare(v, *m.newest) >= 0 {
			p.Set = append(p.Set, m.tag)
			continue
		}
		n := m.newest.String()
		p.Skipped = append(p.Skipped, Skip{Tag: m.tag, Newest: n, Reason: fmt.Sprintf("%s is newer than %s", n, tag)})
	}
	return p, nil
}

func newer(cur *Version, v Version) *Version {
	if cur == nil || Compare(v, *cur) > 0 {
		return &v
	}
	return cur
}
