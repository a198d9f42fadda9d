package sftp

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const sampleConfig = `
# global default
IdentitiesOnly no

Host backup bk
    HostName backup.example.com
    User imgx
    Port 2222
    IdentityFile ~/.ssh/backup_ed25519

Host *.internal !secret.internal
    User ops
    UserKnownHostsFile /etc/imgx/known_hosts

Match host foo
    User matched

Host *
    User fallback
    Port 22
    IdentityFile "/keys/default key"
`

func TestParseSSHConfig(t *testing.T) {
	home := "/home/me"
	tests := []struct {
		host string
		want hostConfig
	}{
		{"bk", hostConfig{HostName: "backup.example.com", User: "imgx", Port: 2222,
			IdentityFiles: []string{home + "/.ssh/backup_ed25519", "/keys/default key"}}},
		{"db.internal", hostConfig{User: "ops", Port: 22, KnownHosts: []string{"/etc/imgx/known_hosts"},
			IdentityFiles: []string{"/keys/default key"}}},
		{"secret.internal", hostConfig{User: "fallback", Port: 22, IdentityFiles: []string{"/keys/default key"}}},
		{"foo", hostConfig{User: "matched", Port: 22, IdentityFiles: []string{"/keys/default key"}}},
	}
	for _, tc := range tests {
		got, err := parseSSHConfig(strings.NewReader(sampleConfig), tc.host, "", localEnv{home: home}, "config")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %+v, want %+v", tc.host, got, tc.want)
		}
	}
	if _, err := parseSSHConfig(strings.NewReader("Host x\n Port abc\n"), "x", "", localEnv{}, "cfg"); err == nil || !strings.Contains(err.Error(), "cfg:2") {
		t.Errorf("bad port: %v", err)
	}
}

func TestSSHConfigIncludeAndMatch(t *testing.T) {
	home := t.TempDir()
	env := localEnv{user: "alice", home: home}
	dotssh := filepath.Join(home, ".ssh")
	os.MkdirAll(filepath.Join(dotssh, "config.d"), 0o700)
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dotssh, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Relative Include paths are under ~/.ssh, globs expand in lexical order (the first
	// value wins), an Include inside a Host block applies only to that host.
	write("config", `Include config.d/*.conf
Host gw
    Include gateway.conf
Match user deploy host *.site.lan
    Port 2200
Match exec "true"
    User never
Match !localuser alice
    User notalice
Host *
    User default
`)
	write("config.d/10-a.conf", "Host app.site.lan\n    HostName 10.0.0.5\n    User first\n")
	write("config.d/20-b.conf", "Host app.site.lan\n    User second\n    IdentityFile ~/.ssh/app_key\n")
	write("gateway.conf", "HostName gateway.site.lan\nUser puller\nHost *\nPort 2022\n")

	tests := []struct {
		host, user string
		want       hostConfig
	}{
		{"app.site.lan", "", hostConfig{HostName: "10.0.0.5", User: "first", IdentityFiles: []string{dotssh + "/app_key"}}},
		{"db.site.lan", "deploy", hostConfig{User: "default", Port: 2200}},
		{"db.site.lan", "", hostConfig{User: "default"}},
		{"gw", "", hostConfig{HostName: "gateway.site.lan", User: "puller", Port: 2022}},
		{"other", "", hostConfig{User: "default"}},
	}
	for _, tc := range tests {
		got, err := readHostConfig("", tc.host, tc.user, env)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s (user %q): %+v, want %+v", tc.host, tc.user, got, tc.want)
		}
	}

	// An Include loop ends with an error naming the depth, not a hang.
	write("config", "Include config\n")
	if _, err := readHostConfig("", "x", "", env); err == nil || !strings.Contains(err.Error(), "nested more than 16 deep") {
		t.Errorf("include loop: %v", err)
	}
	write("config", "Match sometimes x\n")
	if _, err := readHostConfig("", "x", "", env); err == nil || !strings.Contains(err.Error(), `unknown criterion "sometimes"`) {
		t.Errorf("unknown Match criterion: %v", err)
	}
}

func TestPacketSize(t *testing.T) {
	yes, no := true, false
	for _, tc := range []struct {
		banner string
		limits *bool // nil: before the session started
		want   int
	}{
		{"SSH-2.0-OpenSSH_9.2p1 Debian-2", nil, 255 << 10},
		{"SSH-2.0-OpenSSH_9.2p1 Debian-2", &yes, 255 << 10},
		{"SSH-2.0-OpenSSH_8.6", &yes, 255 << 10},
		{"SSH-2.0-dropbear_2022.83", &yes, 255 << 10}, // OpenSSH's sftp-server behind Dropbear
		{"SSH-2.0-OpenSSH_9.2p1 Debian-2", &no, 32 << 10},
		{"SSH-2.0-OpenSSH_8.4p1", nil, 64 << 10},
		{"SSH-2.0-OpenSSH_8.4p1", &no, 64 << 10},
		{"SSH-2.0-OpenSSH_7.4", nil, 64 << 10},
		{"SSH-2.0-Go", nil, 32 << 10},
		{"SSH-2.0-Go", &no, 32 << 10},
		{"SSH-2.0-dropbear_2022.83", nil, 32 << 10},
	} {
		limits := "unknown"
		if tc.limits != nil {
			limits = fmt.Sprint(*tc.limits)
		}
		if got := packetSize(tc.banner, tc.limits, 0); got != tc.want {
			t.Errorf("%s, limits@openssh.com %s: %d, want %d", tc.banner, limits, got, tc.want)
		}
	}
	if got := packetSize("SSH-2.0-OpenSSH_9.2p1", &yes, 4096); got != 4096 {
		t.Errorf("override: %d", got)
	}
}

// FuzzSSHConfig: any config text parses or fails with an error; never a panic or a hang.
// The home is an empty directory, so relative Includes find nothing.
func FuzzSSHConfig(f *testing.F) {
	f.Add(sampleConfig, "bk")
	f.Add("Include config.d/*\nMatch user a,b !host c\n  Port 1\n", "c")
	f.Add("Match all\nHost *\n Port 65535\n", "x")
	home := f.TempDir()
	f.Fuzz(func(t *testing.T, cfg, host string) {
		parseSSHConfig(strings.NewReader(cfg), host, "u", localEnv{user: "me", home: home}, "fuzz")
	})
}
