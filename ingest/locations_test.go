package ingest

import (
	"errors"
	"testing"
)

// TestLocations (moved from cmd/imgx's TestCommonRoot with the function): the common
// parent of the source, done and failed directories, each one's path below it, and a
// *LocationError for directories on different servers.
func TestLocations(t *testing.T) {
	tests := []struct {
		src, done, failed string
		root              string
		rel               [3]string
		bad               bool
	}{
		{"sftp://u@h/srv/incoming", "sftp://u@h/srv/done", "sftp://u@h/srv/quarantine", "/srv/", [3]string{"incoming", "done", "quarantine"}, false},
		{"sftp://u@h/srv/incoming/", "", "", "/srv/incoming/", [3]string{"", "", ""}, false},
		{"sftp://u@h/srv/incoming", "sftp://u@h/srv/incoming/done", "", "/srv/incoming/", [3]string{"", "done", ""}, false},
		{"sftp://u@h/~/in", "sftp://u@h/~/done", "", "~/", [3]string{"in", "done", ""}, false},
		{"ftp://h/pub/in", "ftp://h/pub/done", "", "pub/", [3]string{"in", "done", ""}, false},
		{"ftp://h/in", "ftp://h/done", "", "./", [3]string{"in", "done", ""}, false},
		{"sftp://u@h/a/in", "sftp://u@h/b/done", "", "/", [3]string{"a/in", "b/done", ""}, false},
		{"sftp://u@h/in", "sftp://other@h/done", "", "", [3]string{}, true},
		{"sftp://u@h/in", "/local/done", "", "", [3]string{}, true},
	}
	for _, tt := range tests {
		loc, rel, err := Locations(tt.src, tt.done, tt.failed)
		var le *LocationError
		if (err != nil) != tt.bad || (err != nil && !errors.As(err, &le)) {
			t.Errorf("Locations(%s, %s) error = %v", tt.src, tt.done, err)
			continue
		}
		if !tt.bad && (loc.Path != tt.root || rel != tt.rel) {
			t.Errorf("Locations(%s, %s, %s) = %q %q; want %q %q", tt.src, tt.done, tt.failed, loc.Path, rel, tt.root, tt.rel)
		}
	}
}
