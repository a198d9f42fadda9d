package sftp

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
)

// hostConfig is what imgx takes from ~/.ssh/config for one host.
type hostConfig struct {
	HostName       string
	User           string
	Port           int
	IdentityFiles  []string
	KnownHosts     []string
	IdentitiesOnly bool
}

// parseSSHConfig reads the Host blocks of an ssh_config(5) file that match
// host and applies OpenSSH's rule: the first value of a keyword wins,
// IdentityFile accumulates. Match blocks and Include are not supported and
// are skipped (a Match block's settings do not apply).
func parseSSHConfig(r io.Reader, host, file string) (hostConfig, error) {
	var hc hostConfig
	seen := map[string]bool{}
	active := true // settings before the first Host apply to all hosts
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		key, val := splitKV(text)
		if val == "" {
			return hc, fmt.Errorf("%s:%d: %q has no value", file, line, key)
		}
		switch strings.ToLower(key) {
		case "host":
			active = matchHost(strings.Fields(val), host)
			continue
		case "match":
			active = false
			continue
		}
		if !active {
			continue
		}
		k := strings.ToLower(key)
		val = unquote(val)
		if k == "identityfile" {
			hc.IdentityFiles = append(hc.IdentityFiles, expandTilde(val))
			continue
		}
		if seen[k] {
			continue
		}
		seen[k] = true
		switch k {
		case "hostname":
			hc.HostName = strings.ReplaceAll(val, "%h", host)
		case "user":
			hc.User = val
		case "port":
			p, err := strconv.Atoi(val)
			if err != nil || p < 1 || p > 65535 {
				return hc, fmt.Errorf("%s:%d: bad port %q", file, line, val)
			}
			hc.Port = p
		case "userknownhostsfile":
			for _, f := range strings.Fields(val) {
				hc.KnownHosts = append(hc.KnownHosts, expandTilde(f))
			}
		case "identitiesonly":
			hc.IdentitiesOnly = strings.EqualFold(val, "yes")
		}
	}
	return hc, sc.Err()
}

func splitKV(s string) (string, string) {
	i := strings.IndexAny(s, " \t=")
	if i < 0 {
		return s, ""
	}
	key := s[:i]
	val := strings.TrimLeft(s[i:], " \t")
	val = strings.TrimPrefix(val, "=")
	return key, strings.TrimSpace(val)
}

func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

// matchHost applies ssh_config patterns (*, ?, and !negation).
func matchHost(patterns []string, host string) bool {
	matched := false
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(p, "!")
		if ok, _ := path.Match(p, host); ok {
			if neg {
				return false
			}
			matched = true
		}
	}
	return matched
}

func expandTilde(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return home + p[1:]
		}
	}
	return p
}
