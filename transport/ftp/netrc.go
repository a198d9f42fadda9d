package ftp

import (
	"bufio"
	"io"
	"strings"
)

// netrcLookup finds the login and password for host in a .netrc file. With
// user set, only an entry for that login counts. "default" matches any host.
func netrcLookup(r io.Reader, host, user string) (login, password string, ok bool) {
	var words []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") {
			continue
		}
		words = append(words, strings.Fields(line)...)
	}
	type entry struct{ machine, login, password string }
	var entries []entry
	var cur *entry
	for i := 0; i < len(words); i++ {
		next := func() string {
			if i+1 < len(words) {
				i++
				return words[i]
			}
			return ""
		}
		switch words[i] {
		case "machine":
			entries = append(entries, entry{machine: next()})
			cur = &entries[len(entries)-1]
		case "default":
			entries = append(entries, entry{machine: ""})
			cur = &entries[len(entries)-1]
		case "login":
			if v := next(); cur != nil {
				cur.login = v
			}
		case "password":
			if v := next(); cur != nil {
				cur.password = v
			}
		case "account":
			next()
		case "macdef": // a macro runs to the end of the file here
			i = len(words)
		}
	}
	for _, want := range []string{host, ""} {
		for _, e := range entries {
			if e.machine == want && (user == "" || e.login == user) {
				return e.login, e.password, true
			}
		}
	}
	return "", "", false
}
