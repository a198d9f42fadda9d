package inflate

import "math/bits"

// Decode table entries are uint32s read with one lookup of the low bits of the bit buffer,
// the way libdeflate's decompress_template.h lays them out:
//
//	bits 0-7   total bits to consume: code length + extra bits (a length or distance)
//	bits 8-11  code length alone (extra bits start there); subtable entries: subtable bits
//	bits 16-   literal value, length base, distance base or subtable start
//
// Flags sit in the free high bits (literal/length table) or in bits 12-15 (distance table).
const (
	litTableBits  = 11
	distTableBits = 8
	clTableBits   = 7

	litMask  = 1<<litTableBits - 1
	distMask = 1<<distTableBits - 1
	clMask   = 1<<clTableBits - 1

	// Table sizes: the primary table plus the most subtable space a complete code can need
	// (zlib's enough: 288 symbols/11/15 = 2342, 32/8/15 = 402). build checks anyway.
	litEnough  = 2342
	distEnough = 402
	clEnough   = 1 << clTableBits

	// literal/length table flags
	fLit = 1 << 31 // literal, value in bits 16-23
	fExc = 1 << 30 // not a literal nor a length: subtable pointer, end of block or invalid
	fSub = 1 << 29 // subtable pointer
	fEOB = 1 << 28 // end of block
	// an entry with fExc and neither fSub nor fEOB is invalid (symbols 286/287, or a
	// bit pattern an incomplete code does not use)

	// distance table flags
	dSub = 1 << 14
	dInv = 1 << 15

	// code length table
	cInv = 1 << 31

	valShift   = 16
	litValMask = 0xfff
)

var lengthBase = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
var lengthExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
var distBase = [30]uint16{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
var distExtra = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}

// Templates: the entry of each symbol without its code length; the low byte holds the
// number of extra bits.
var litTmpl, distTmpl, clTmpl = func() (l [288]uint32, d [32]uint32, c [19]uint32) {
	for s := range 256 {
		l[s] = fLit | uint32(s)<<valShift
	}
	l[256] = fExc | fEOB
	for s := 257; s < 286; s++ {
		l[s] = uint32(lengthBase[s-257])<<valShift | uint32(lengthExtra[s-257])
	}
	l[286], l[287] = fExc, fExc
	for s := range 30 {
		d[s] = uint32(distBase[s])<<valShift | uint32(distExtra[s])
	}
	d[30], d[31] = dInv, dInv
	for s := range 19 {
		c[s] = uint32(s) << valShift
	}
	return
}()

// fixedLit and fixedDist are the tables of the fixed Huffman code (RFC 1951 3.2.6).
var fixedLit, fixedDist = func() (*[litEnough]uint32, *[distEnough]uint32) {
	var lens [288]uint8
	for i := range lens {
		switch {
		case i < 144:
			lens[i] = 8
		case i < 256:
			lens[i] = 9
		case i < 280:
			lens[i] = 7
		default:
			lens[i] = 8
		}
	}
	var dl [32]uint8
	for i := range dl {
		dl[i] = 5
	}
	l, d := new([litEnough]uint32), new([distEnough]uint32)
	if !build(l[:], lens[:], litTableBits, litTmpl[:], fExc|fSub, fExc) ||
		!build(d[:], dl[:], distTableBits, distTmpl[:], dSub, dInv) {
		panic("inflate: fixed Huffman tables do not build")
	}
	return l, d
}()

// build fills table for the canonical Huffman code of lens (lens[sym] is the code length
// of sym, 0 for unused). It reports false for the codes compress/flate rejects: an
// over-subscribed code, or an incomplete one other than a single code of length 1 (which
// zlib accepts too). An empty code builds a table of invalid entries, so that a stream
// that uses it fails then, as in compress/flate.
func build(table []uint32, lens []uint8, tableBits uint, tmpl []uint32, subFlag, invalid uint32) bool {
	var count [16]int
	for _, l := range lens {
		count[l&15]++ // lengths are < 16 by construction
	}
	count[0] = 0
	maxLen := 0
	for l := 15; l >= 1; l-- {
		if count[l] != 0 {
			maxLen = l
			break
		}
	}
	primary := 1 << tableBits
	for i := range table[:primary] {
		table[i] = invalid
	}
	if maxLen == 0 {
		return true
	}
	left := 1
	for l := 1; l <= 15; l++ {
		left = left<<1 - count[l]
		if left < 0 {
			return false // over-subscribed
		}
	}
	if left != 0 && !(maxLen == 1 && count[1] == 1) {
		return false // incomplete
	}
	var offs [17]int
	for l := 1; l <= 15; l++ {
		offs[l+1] = offs[l] + count[l]
	}
	var sorted [288]uint16
	for s, l := range lens {
		if l != 0 {
			sorted[offs[l]] = uint16(s)
			offs[l]++
		}
	}
	remaining := count
	code, idx := 0, 0
	end := primary
	prefix, subStart, subBits := -1, 0, 0
	for l := 1; l <= maxLen; l++ {
		for range count[l] {
			sym := sorted[idx]
			idx++
			rev := int(bits.Reverse16(uint16(code)) >> (16 - l))
			t := tmpl[sym]
			if l <= int(tableBits) {
				e := t&^0xff | uint32(l)<<8 | (uint32(l) + t&0xff)
				for i := rev; i < primary; i += 1 << l {
					table[i] = e
				}
			} else {
				if p := rev & (primary - 1); p != prefix {
					prefix = p
					sb := l - int(tableBits)
					room := 1 << sb
					for sb+int(tableBits) < maxLen {
						room -= remaining[sb+int(tableBits)]
						if room <= 0 {
							break
						}
						sb++
						room <<= 1
					}
					if end+1<<sb > len(table) {
						return false // cannot happen for a complete code; never write out of the table
					}
					for i := end; i < end+1<<sb; i++ {
						table[i] = invalid
					}
					subStart, subBits = end, sb
					end += 1 << sb
					table[p] = subFlag | uint32(subStart)<<valShift | uint32(sb)<<8 | uint32(tableBits)
				}
				sl := l - int(tableBits)
				e := t&^0xff | uint32(sl)<<8 | (uint32(sl) + t&0xff)
				for i := rev >> tableBits; i < 1<<subBits; i += 1 << sl {
					table[subStart+i] = e
				}
			}
			remaining[l]--
			code++
		}
		code <<= 1
	}
	return true
}
