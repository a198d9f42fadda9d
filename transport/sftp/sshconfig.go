package sftp

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
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

// maxIncludeDepth bounds nested Include directives (OpenSSH uses 16 too).
const maxIncludeDepth = 16

// configParser applies ssh_config(5) to one host: the first value of a keyword
// wins, IdentityFile accumulates, Host and Match blocks select what applies, and
// Include pulls in other files (globs; relative paths under ~/.ssh), conditionally
// when it sits in a Host or Match block.
type configParser struct {
	host      string // as typed (Match originalhost)
	user      string // the remote user if known (Match user)
	localUser string
	home      string // for ~ and relative Includes; "" leaves ~ as it is
	hc        hostConfig
	seen      map[string]bool
}

// localEnv is what the parser takes from the local machine: the user name (Match
// localuser) and the home directory (~, relative Includes under ~/.ssh).
type localEnv struct {
	user, home string
}

// parseSSHConfig reads an ssh_config file's settings for host. user is the remote user
// when the location names one ("" otherwise).
func parseSSHConfig(r io.Reader, host, user string, env localEnv, file string) (hostConfig, error) {
	p := &configParser{host: host, user: user, localUser: env.user, home: env.home, seen: map[string]bool{}}
	err := p.parse(r, file, true, 0)
	return p.hc, err
}

// parse reads one file. Settings before its first Host or Match line apply when
// active (true at the top, the including block's state for an Include).
func (p *configParser) parse(r io.Reader, file string, active bool, depth int) error {
	never := !active // an Include in a block that does not apply: nothing in it applies
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
			return fmt.Errorf("%s:%d: %q has no value", file, line, key)
		}
		k := strings.ToLower(key)
		switch k {
		case "host":
			active = !never && matchHost(strings.Fields(val), p.host)
			continue
		case "match":
			ok, err := p.match(strings.Fields(val))
			if err != nil {
				return fmt.Errorf("%s:%d: %w", file, line, err)
			}
			active = !never && ok
			continue
		case "include":
			if !active {
				continue
			}
			if depth >= maxIncludeDepth {
				return fmt.Errorf("%s:%d: Include nested more than %d deep", file, line, maxIncludeDepth)
			}
			if err := p.include(strings.Fields(val), depth); err != nil {
				return fmt.Errorf("%s:%d: %w", file, line, err)
			}
			continue
		}
		if !active {
			continue
		}
		if err := p.set(k, unquote(val), file, line); err != nil {
			return err
		}
	}
	return sc.Err()
}

func (p *configParser) include(patterns []string, depth int) error {
	for _, pat := range patterns {
		pat = expandTilde(unquote(pat), p.home)
		if !filepath.IsAbs(pat) {
			pat = filepath.Join(expandTilde("~/.ssh", p.home), pat)
		}
		files, err := filepath.Glob(pat)
		if err != nil {
			return fmt.Errorf("ssh_config Include %s: %w", pat, err)
		}
		sort.Strings(files)
		for _, f := range files {
			fh, err := os.Open(f)
			if err != nil {
				return fmt.Errorf("ssh_config Include: %w", err)
			}
			err = p.parse(fh, f, true, depth+1)
			fh.Close()
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// match evaluates a Match line. It supports all, host, originalhost, user and
// localuser (with ! negation and comma-separated patterns). Criteria imgx cannot
// evaluate (exec, canonical, final, localnetwork, tagged) make the block not apply.
func (p *configParser) match(args []string) (bool, error) {
	if len(args) == 1 && strings.EqualFold(args[0], "all") {
		return true, nil
	}
	result := true
	for i := 0; i < len(args); i++ {
		crit := strings.ToLower(args[i])
		neg := strings.HasPrefix(crit, "!")
		crit = strings.TrimPrefix(crit, "!")
		if crit == "all" {
			if neg {
				result = false
			}
			continue
		}
		if i+1 >= len(args) {
			return false, fmt.Errorf("ssh_config Match %s needs an argument", crit)
		}
		arg := args[i+1]
		i++
		var ok bool
		switch crit {
		case "host":
			h := p.host
			if p.hc.HostName != "" {
				h = p.hc.HostName
			}
			ok = matchHost(strings.Split(arg, ","), h)
		case "originalhost":
			ok = matchHost(strings.Split(arg, ","), p.host)
		case "user":
			u := p.user
			if u == "" {
				u = p.hc.User
			}
			if u == "" {
				u = p.localUser
			}
			ok = matchHost(strings.Split(arg, ","), u)
		case "localuser":
			ok = matchHost(strings.Split(arg, ","), p.localUser)
		case "exec", "canonical", "final", "localnetwork", "tagged", "address", "localaddress", "localport", "rdomain":
			return false, nil
		default:
			return false, fmt.Errorf("ssh_config Match: unknown criterion %q", crit)
		}
		if ok == neg {
			result = false
		}
	}
	return result, nil
}

func (p *configParser) set(k, val, file string, line int) error {
	hc := &p.hc
	if k == "identityfile" {
		hc.IdentityFiles = append(hc.IdentityFiles, expandTilde(val, p.home))
		return nil
	}
	if p.seen[k] {
		return nil
	}
	p.seen[k] = true
	switch k {
	case "hostname":
		hc.HostName = strings.ReplaceAll(val, "%h", p.host)
	case "user":
		hc.User = val
	case "port":
		n, err := strconv.Atoi(val)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%s:%d: bad port %q", file, line, val)
		}
		hc.Port = n
	case "userknownhostsfile":
		for _, f := range strings.Fields(val) {
			hc.KnownHosts = append(hc.KnownHosts, expandTilde(f, p.home))
		}
	case "identitiesonly":
		hc.IdentitiesOnly = strings.EqualFold(val, "yes")
	}
	return nil
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

// expandTilde replaces a leading ~ by home; without a home, p stays as it is.
func expandTilde(p, home string) string {
	if home != "" && (p == "~" || strings.HasPrefix(p, "~/")) {
		return home + p[1:]
	}
	return p
}
