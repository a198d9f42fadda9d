package layerdelta

import (
	"bufio"
	"crypto/sha256"
	"io"
)

// Content-defined chunking (FastCDC with normalised chunking, Xia et al. 2016) over an
// uncompressed tar stream. Only the sender chunks: a recipe records byte ranges, so the
// chunk parameters are not part of the format and may change freely.
const (
	cdcMin  = 2 << 10
	cdcAvg  = 8 << 10
	cdcMax  = 64 << 10
	maskS   = uint64(0x0003590703530000) // 15 bits: harder to cut before avg
	maskL   = uint64(0x0000d90003530000) // 11 bits: easier after avg
	gearLen = 256
)

var gear = func() (g [gearLen]uint64) {
	// splitmix64 from a fixed seed: a deterministic table.
	x := uint64(0x696d67786c647231)
	for i := range g {
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		g[i] = z ^ (z >> 31)
	}
	return
}()

// cutPoint returns the length of the next chunk at the start of b.
func cutPoint(b []byte) int {
	n := len(b)
	if n <= cdcMin {
		return n
	}
	if n > cdcMax {
		n = cdcMax
	}
	normal := cdcAvg
	if n < normal {
		normal = n
	}
	var h uint64
	i := cdcMin
	for ; i < normal; i++ {
		h = (h << 1) + gear[b[i]]
		if h&maskS == 0 {
			return i + 1
		}
	}
	for ; i < n; i++ {
		h = (h << 1) + gear[b[i]]
		if h&maskL == 0 {
			return i + 1
		}
	}
	return n
}

// chunks calls fn for each content-defined chunk of r with its offset and sha256.
func chunks(r io.Reader, fn func(off int64, n int, sum [32]byte)) error {
	br := bufio.NewReaderSize(r, 4*cdcMax)
	var off int64
	for {
		b, err := br.Peek(cdcMax)
		if len(b) == 0 {
			if err == io.EOF {
				return nil
			}
			return err
		}
		n := cutPoint(b)
		fn(off, n, sha256.Sum256(b[:n]))
		off += int64(n)
		if _, err := br.Discard(n); err != nil {
			return err
		}
	}
}
