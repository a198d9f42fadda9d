package ftp

import (
	"strings"
	"testing"
)

func TestNetrc(t *testing.T) {
	const netrc = `# comment
machine ftp.example.com login alice password a1
machine ftp.example.com
  login bob
  password b2
default login anonymous password guest@
`
	tests := []struct {
		host, user, login, pass string
		ok                      bool
	}{
		{"ftp.example.com", "", "alice", "a1", true},
		{"ftp.example.com", "bob", "bob", "b2", true},
		{"other", "", "anonymous", "guest@", true},
		{"other", "carol", "", "", false},
	}
	for _, tc := range tests {
		l, p, ok := netrcLookup(strings.NewReader(netrc), tc.host, tc.user)
		if l != tc.login || p != tc.pass || ok != tc.ok {
			t.Errorf("%s/%s: %q %q %v", tc.host, tc.user, l, p, ok)
		}
	}
}
