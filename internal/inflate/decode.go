package inflate

import (
	"encoding/binary"
	"io"
)

// huff decodes the current Huffman block until its end (state stBlock) or until out has no
// room for a longest match (full).
func (d *Reader) huff() (full bool, err error) {
	for {
		eob, err := d.fast()
		if err != nil || eob {
			return false, err
		}
		// The fast loop stopped near the end of the input buffer or of out: one symbol,
		// carefully.
		if len(d.out)-d.op < maxMatch {
			return true, nil
		}
		eob, err = d.slow()
		if err != nil || eob {
			return false, err
		}
	}
}

// fast is the decode loop of libdeflate's decompress_template.h: while at least
// inFastMin input bytes are buffered and out has room for a longest match plus slack, it
// decodes without checking either per symbol. A turn starts with bl >= 56 after a
// refill and the entry of the next symbol looked up: 56 bits are enough for a length code
// with extra bits (15+5) and a distance code with extra bits (15+13), or for three
// literals. The next turn's entry is looked up before a match is copied, so that the
// table load overlaps the copy.
//
// Input bound: the loop checks ip <= iend-inFastMin, then at most three refills follow
// before the next check (after the check, at the top of the next turn; after one or two
// literals; before the copy of the match). Each advances ip by at most 7 and loads 8
// bytes, so the last load ends by ip+22 <= iend: no load reaches past the bytes read
// (which would decode whatever stale bytes lie there) or past the buffer (a panic).
// TestBufferEnds failed with 16.
func (d *Reader) fast() (eob bool, err error) {
	lt, dt := d.lit, d.dist
	in, out := d.in, d.out
	ip, op := d.ip, d.op
	bb, bl := d.bb, d.bl
	lo := d.lo
	inEnd := d.iend - inFastMin
	outEnd := len(out) - maxMatch - fastSlack
	if ip > inEnd || op > outEnd {
		return false, nil
	}
	bb |= binary.LittleEndian.Uint64(in[ip:]) << (bl & 63)
	ip += int((63 - bl) >> 3)
	bl |= 56
	e := lt[bb&litMask]
	for {
		if e&fLit != 0 {
			bb >>= e & 63
			bl -= uint(e & 63)
			out[op] = byte(e >> valShift)
			op++
			e = lt[bb&litMask]
			if e&fLit != 0 {
				bb >>= e & 63
				bl -= uint(e & 63)
				out[op] = byte(e >> valShift)
				op++
				e = lt[bb&litMask]
				if e&fLit != 0 {
					bb >>= e & 63
					bl -= uint(e & 63)
					out[op] = byte(e >> valShift)
					op++
					if ip > inEnd || op > outEnd {
						break
					}
					bb |= binary.LittleEndian.Uint64(in[ip:]) << (bl & 63)
					ip += int((63 - bl) >> 3)
					bl |= 56
					e = lt[bb&litMask]
					continue
				}
			}
			// Refill so that a length and a distance fit; the entry looked up stays
			// valid: a refill only fills bits above bl.
			bb |= binary.LittleEndian.Uint64(in[ip:]) << (bl & 63)
			ip += int((63 - bl) >> 3)
			bl |= 56
		}
		if e&fExc != 0 {
			if e&fSub != 0 {
				bb >>= e & 63
				bl -= uint(e & 63)
				e = lt[(e>>valShift)&litValMask+uint32(bb&(1<<((e>>8)&15)-1))]
				if e&fLit != 0 {
					bb >>= e & 63
					bl -= uint(e & 63)
					out[op] = byte(e >> valShift)
					op++
					if ip > inEnd || op > outEnd {
						break
					}
					bb |= binary.LittleEndian.Uint64(in[ip:]) << (bl & 63)
					ip += int((63 - bl) >> 3)
					bl |= 56
					e = lt[bb&litMask]
					continue
				}
			}
			if e&fExc != 0 {
				d.ip, d.op, d.bb, d.bl = ip, op, bb, bl
				if e&fEOB != 0 {
					d.bb >>= e & 63
					d.bl -= uint(e & 63)
					d.state = stBlock
					return true, nil
				}
				return false, d.corrupt("invalid literal/length code")
			}
		}
		length := int(e>>valShift&litValMask) + int((bb&(1<<(e&63)-1))>>((e>>8)&15))
		bb >>= e & 63
		bl -= uint(e & 63)

		de := dt[bb&distMask]
		if de&(dSub|dInv) != 0 {
			if de&dInv == 0 {
				bb >>= de & 63
				bl -= uint(de & 63)
				de = dt[(de>>valShift)+uint32(bb&(1<<((de>>8)&15)-1))]
			}
			if de&dInv != 0 {
				d.ip, d.op, d.bb, d.bl = ip, op, bb, bl
				return false, d.corrupt("invalid distance code")
			}
		}
		dist := int(de>>valShift) + int((bb&(1<<(de&63)-1))>>((de>>8)&15))
		bb >>= de & 63
		bl -= uint(de & 63)
		if dist > op-lo {
			d.ip, d.op, d.bb, d.bl = ip, op, bb, bl
			return false, d.corrupt("distance too far back")
		}
		// Look up the next symbol before copying.
		bb |= binary.LittleEndian.Uint64(in[ip:]) << (bl & 63)
		ip += int((63 - bl) >> 3)
		bl |= 56
		e = lt[bb&litMask]

		src := op - dist
		if dist >= 8 {
			// Two words unconditionally (most matches are short), then the rest; up
			// to 7 bytes past the match are written, inside the slack.
			binary.LittleEndian.PutUint64(out[op:], binary.LittleEndian.Uint64(out[src:]))
			binary.LittleEndian.PutUint64(out[op+8:], binary.LittleEndian.Uint64(out[src+8:]))
			if length > 16 {
				if dist >= length && length > 64 {
					copy(out[op+16:op+length], out[src+16:src+length])
				} else {
					for o, s, end := op+16, src+16, op+length; o < end; o, s = o+8, s+8 {
						binary.LittleEndian.PutUint64(out[o:], binary.LittleEndian.Uint64(out[s:]))
					}
				}
			}
			op += length
		} else {
			op = copyNear(out, op, dist, length)
		}
		if ip > inEnd || op > outEnd {
			break
		}
	}
	d.ip, d.op, d.bb, d.bl = ip, op, bb, bl
	return false, nil
}

// copyNear copies a match of distance 1..7 to out[op:] and returns the new op. It writes
// 8 bytes at a time, up to 7 bytes past op+length (the slack behind the fast loop's
// bound; those bytes are overwritten later and never returned).
func copyNear(out []byte, op, dist, length int) int {
	src := op - dist
	end := op + length
	if dist == 1 {
		v := uint64(out[src]) * 0x0101010101010101
		for op < end {
			binary.LittleEndian.PutUint64(out[op:], v)
			op += 8
		}
		return end
	}
	// The first 16 bytes one at a time; past them the output repeats with a period of
	// eff, the smallest multiple of dist >= 8, so the rest goes 8 bytes at a time.
	for i := range min(length, 16) {
		out[op+i] = out[src+i]
	}
	eff := dist * ((8 + dist - 1) / dist)
	for o := op + 16; o < end; o += 8 {
		binary.LittleEndian.PutUint64(out[o:], binary.LittleEndian.Uint64(out[o-eff:]))
	}
	return end
}

// slow decodes one symbol (and its match) with every check: it refills a byte at a time,
// reading more input only when the buffer is empty, and tells a truncated stream
// (io.ErrUnexpectedEOF) from a corrupt one. The caller made sure out has room for a
// longest match; matches are copied a byte at a time (no slack needed).
func (d *Reader) slow() (eob bool, err error) {
	if err := d.want(32); err != nil {
		return false, err
	}
	e := d.lit[d.bb&litMask]
	if e&fSub != 0 {
		if uint(e&63) > d.bl {
			return false, io.ErrUnexpectedEOF
		}
		d.bb >>= e & 63
		d.bl -= uint(e & 63)
		e = d.lit[(e>>valShift)&litValMask+uint32(d.bb&(1<<((e>>8)&15)-1))]
	}
	if e&fExc != 0 && e&fEOB == 0 {
		return false, d.corrupt("invalid literal/length code")
	}
	if uint(e&63) > d.bl {
		return false, io.ErrUnexpectedEOF
	}
	if e&fLit != 0 {
		d.bb >>= e & 63
		d.bl -= uint(e & 63)
		d.out[d.op] = byte(e >> valShift)
		d.op++
		return false, nil
	}
	if e&fEOB != 0 {
		d.bb >>= e & 63
		d.bl -= uint(e & 63)
		d.state = stBlock
		return true, nil
	}
	length := int(e>>valShift&litValMask) + int((d.bb&(1<<(e&63)-1))>>((e>>8)&15))
	d.bb >>= e & 63
	d.bl -= uint(e & 63)

	if err := d.want(32); err != nil {
		return false, err
	}
	de := d.dist[d.bb&distMask]
	if de&(dSub|dInv) == dSub {
		if uint(de&63) > d.bl {
			return false, io.ErrUnexpectedEOF
		}
		d.bb >>= de & 63
		d.bl -= uint(de & 63)
		de = d.dist[(de>>valShift)+uint32(d.bb&(1<<((de>>8)&15)-1))]
	}
	if de&dInv != 0 {
		return false, d.corrupt("invalid distance code")
	}
	if uint(de&63) > d.bl {
		return false, io.ErrUnexpectedEOF
	}
	dist := int(de>>valShift) + int((d.bb&(1<<(de&63)-1))>>((de>>8)&15))
	d.bb >>= de & 63
	d.bl -= uint(de & 63)
	if dist > d.op-d.lo {
		return false, d.corrupt("distance too far back")
	}
	out := d.out[:d.op+length]
	for i, src := d.op, d.op-dist; i < len(out); i, src = i+1, src+1 {
		out[i] = out[src]
	}
	d.op += length
	return false, nil
}
