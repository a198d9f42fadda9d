package local

import "testing"

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64 // 0: an error
	}{
		{"4G", 4 << 30},
		{"700M", 700 << 20},
		{"64MiB", 64 << 20},
		{"64mb", 64 << 20},
		{" 2k ", 2 << 10},
		{"1T", 1 << 40},
		{"1000000", 1000000},
		{"", 0},
		{"0", 0},
		{"-1G", 0},
		{"1.5G", 0},
		{"G", 0},
		{"12X", 0},
		{"007M", 0},
	} {
		got, err := ParseSize(tc.in)
		if tc.want == 0 {
			if err == nil {
				t.Errorf("ParseSize(%q) = %d, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}
