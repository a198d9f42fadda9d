package sftp

import (
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
	home := expandTilde("~")
	tests := []struct {
		host string
		want hostConfig
	}{
		{"bk", hostConfig{HostName: "backup.example.com", User: "imgx", Port: 2222,
			IdentityFiles: []string{home + "/.ssh/backup_ed25519", "/keys/default key"}}},
		{"db.internal", hostConfig{User: "ops", Port: 22, KnownHosts: []string{"/etc/imgx/known_hosts"},
			IdentityFiles: []string{"/keys/default key"}}},
		{"secret.internal", hostConfig{User: "fallback", Port: 22, IdentityFiles: []string{"/keys/default key"}}},
		{"foo", hostConfig{User: "fallback", Port: 22, IdentityFiles: []string{"/keys/default key"}}},
	}
	for _, tc := range tests {
		got, err := parseSSHConfig(strings.NewReader(sampleConfig), tc.host, "config")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %+v, want %+v", tc.host, got, tc.want)
		}
	}
	if _, err := parseSSHConfig(strings.NewReader("Host x\n Port abc\n"), "x", "cfg"); err == nil || !strings.Contains(err.Error(), "cfg:2") {
		t.Errorf("bad port: %v", err)
	}
}

func TestPacketSize(t *testing.T) {
	for v, want := range map[string]int{
		"SSH-2.0-OpenSSH_9.2p1 Debian-2": 128 << 10,
		"SSH-2.0-OpenSSH_8.6":            128 << 10,
		"SSH-2.0-OpenSSH_8.4p1":          64 << 10,
		"SSH-2.0-OpenSSH_7.4":            64 << 10,
		"SSH-2.0-Go":                     32 << 10,
		"SSH-2.0-dropbear_2022.83":       32 << 10,
	} {
		if got := packetSize(v, 0); got != want {
			t.Errorf("%s: %d, want %d", v, got, want)
		}
	}
}
