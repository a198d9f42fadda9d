package serve

import "regexp"

// The distribution-spec grammars: a repository name is path components of lowercase
// alphanumerics joined by separators; a tag is up to 128 characters.
var (
	nameRE = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)
	tagRE  = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
)

// maxName bounds a repository name (Docker's limit), before the regexp runs.
const maxName = 255

func validName(s string) bool { return len(s) <= maxName && nameRE.MatchString(s) }

func validTag(s string) bool { return tagRE.MatchString(s) }
