package local

import (
	"fmt"
	"strings"
)

// ParseSize parses a volume size as people write it: "4G", "700M", "64MiB", "1000000".
// Units are binary (K = 1024) whether or not an "iB" or "B" follows, so "4G" is the
// FAT32 limit of 4 GiB.
func ParseSize(s string) (int64, error) {
	u := strings.ToUpper(strings.TrimSpace(s))
	u = strings.TrimSuffix(strings.TrimSuffix(u, "IB"), "B")
	mult := int64(1)
	if u != "" {
		switch u[len(u)-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			u = u[:len(u)-1]
		}
	}
	var n int64
	if _, err := fmt.Sscanf(u, "%d", &n); err != nil || n <= 0 || fmt.Sprint(n) != u {
		return 0, fmt.Errorf("invalid size %q (want e.g. 4G, 700M)", s)
	}
	return n * mult, nil
}
