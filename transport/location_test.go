package transport

import (
	"errors"
	"strings"
	"testing"
)

func TestParseLocation(t *testing.T) {
	tests := []struct {
		in   string
		want Location
		str  string
	}{
		{"-", Location{Scheme: Stdio}, "-"},
		{"/media/usb/x.imgx", Location{Scheme: File, Path: "/media/usb/x.imgx"}, "/media/usb/x.imgx"},
		{"x.imgx", Location{Scheme: File, Path: "x.imgx"}, "x.imgx"},
		{"./a:b", Location{Scheme: File, Path: "./a:b"}, "./a:b"},
		{"file:///srv/b/", Location{Scheme: File, Path: "/srv/b/"}, "/srv/b/"},
		{"sftp://host/srv/b.imgx", Location{Scheme: SFTP, Host: "host", Path: "/srv/b.imgx"}, "sftp://host/srv/b.imgx"},
		{"sftp://alice@host:2222/~/b.imgx", Location{Scheme: SFTP, User: "alice", Host: "host", Port: 2222, Path: "~/b.imgx"}, "sftp://alice@host:2222/~/b.imgx"},
		{"sftp://host", Location{Scheme: SFTP, Host: "host", Path: "~/"}, "sftp://host/~/"},
		{"SFTP://[::1]:22/x", Location{Scheme: SFTP, Host: "::1", Port: 22, Path: "/x"}, "sftp://[::1]:22/x"},
		{"ftp://host/in/b.imgx", Location{Scheme: FTP, Host: "host", Path: "in/b.imgx"}, "ftp://host/in/b.imgx"},
		{"ftps://bob@host:2121/", Location{Scheme: FTPS, User: "bob", Host: "host", Port: 2121, Path: "./"}, "ftps://bob@host:2121/"},
	}
	for _, tc := range tests {
		got, err := ParseLocation(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%q: %+v, want %+v", tc.in, got, tc.want)
		}
		if s := got.String(); s != tc.str {
			t.Errorf("%q: String %q, want %q", tc.in, s, tc.str)
		}
	}
}

func TestParseLocationErrors(t *testing.T) {
	tests := []struct {
		in   string
		want error
	}{
		{"", ErrBadLocation},
		{"sftp://alice:secret@host/x", ErrPasswordInURL},
		{"ftp://bob:pw@host/x", ErrPasswordInURL},
		{"http://host/x", ErrBadLocation},
		{"sftp:///x", ErrBadLocation},
		{"sftp://host:99999/x", ErrBadLocation},
		{"ftp://host/x?y=1", ErrBadLocation},
		{"file://otherhost/x", ErrBadLocation},
		{"backup.example.com:/srv/x", ErrBadLocation},
	}
	for _, tc := range tests {
		_, err := ParseLocation(tc.in)
		if !errors.Is(err, tc.want) {
			t.Errorf("%q: %v, want %v", tc.in, err, tc.want)
		}
		if err != nil && tc.want == ErrPasswordInURL && strings.Contains(err.Error(), "secret") {
			t.Errorf("%q: error shows the password: %v", tc.in, err)
		}
	}
}

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"a", "a/b", "done/x.imgx", ".hidden"} {
		if err := CheckName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "/a", "a/", "../a", "a/../b", ".a" + TempSuffix, "d/.a" + StateSuffix, "a\x00"} {
		if err := CheckName(bad); !errors.Is(err, ErrBadName) {
			t.Errorf("%q: %v, want ErrBadName", bad, err)
		}
	}
}

func FuzzParseLocation(f *testing.F) {
	for _, s := range []string{"-", "/x", "sftp://u@h:22/~/x", "ftp://h/x", "ftps://h/", "file:///x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLocation(s)
		if err != nil {
			return
		}
		if l.IsRemote() {
			l2, err := ParseLocation(l.String())
			if err != nil || l2 != l {
				t.Fatalf("%q -> %+v -> %q -> %+v, %v", s, l, l.String(), l2, err)
			}
		}
	})
}
