// Package inflate is a streaming gzip (RFC 1952) and DEFLATE (RFC 1951) decoder in pure Go,
// written for imgx verify and load, which spend most of their CPU inflating layers.
//
// It exists because the Go decoders (compress/flate and klauspost/compress/flate) read
// their input a byte at a time through io.ByteReader and write through a 32 KiB window:
// on real layer data klauspost inflates about 150 MB/s per core where libdeflate, in C,
// does twice that. Linking C (cgo) is not an option: it would put a C parser on
// unverified bytes and break the static builds.
//
// The design is libdeflate's (decompress_template.h) and zune-inflate's fast path:
//   - a 64-bit bit buffer refilled by one little-endian 8-byte load while at least 24
//     input bytes are buffered;
//   - one table lookup per symbol: an 11-bit literal/length table (8-bit for distances)
//     with subtables for longer codes, whose entries carry the literal or the length or
//     distance base, the number of extra bits and the code length, so a length and its
//     extra bits are consumed with one shift; up to three literals per refill;
//   - a fast loop without per-symbol input or output checks, running while 24 input
//     bytes and a longest match plus slack of output room are left; a careful one symbol
//     at a time slow path for the ends of input buffers, output buffers and streams;
//   - output straight into a large buffer (256 KiB after 32 KiB of history, which is slid
//     to the front when the buffer has been consumed); matches copied 8 bytes at a time.
//
// [Reader.WriteTo] writes out of that buffer, so io.Copy(hash, r) hashes without a copy.
//
// Guarantees: no cgo, no unsafe, no panic on any input: every index is checked by Go, and
// the fast loop's bit and buffer budgets are proved in its comments (the tests, FuzzInflate
// and FuzzGzip check it against compress/flate and compress/gzip: same output, same
// success or failure, also with tiny buffers). Should a bug the fuzzers missed still make
// an index check fail, the Reader fails with an error wrapping [ErrCorrupt] instead of
// crashing imgx on a crafted layer; the tests turn that off, so they see the panic itself,
// memory bounded by a fixed ~430 KiB per Reader whatever the input claims (nothing is
// allocated from a length read from the stream; a gzip FEXTRA field is skipped, not
// kept). The gzip framing follows compress/gzip: header flags, header CRC, trailer CRC-32
// and size checked ([ErrChecksum]), concatenated members read as one stream, and anything
// after the last member that is not a gzip member is an error ([ErrHeader]).
package inflate

import (
	"compress/gzip"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// ErrChecksum and ErrHeader are compress/gzip's errors, so that errors.Is works against
// either package.
var (
	ErrChecksum = gzip.ErrChecksum
	ErrHeader   = gzip.ErrHeader
)

// ErrCorrupt is wrapped by every error about invalid DEFLATE data.
var ErrCorrupt = errors.New("inflate: corrupt DEFLATE data")

const (
	histSize  = 32 << 10  // the DEFLATE window: kept in front of new output
	outSize   = 256 << 10 // output produced between slides
	inSize    = 128 << 10 // input buffer
	maxMatch  = 258
	fastSlack = 16  // word copies write up to 7 bytes past a match; literals 3 at a time
	inFastMin = 24  // bytes the fast loop needs buffered at a check: up to three refills follow (see fast)
	maxReads  = 100 // reads returning 0, nil before giving up, as bufio does
)

type state uint8

const (
	stHeader  state = iota // gzip member header
	stBlock                // block header (or end of stream after the final block)
	stHuff                 // inside a Huffman-coded block
	stStored               // inside a stored block
	stTrailer              // gzip member trailer
	stNext                 // after a member: another member, or the end
	stDone
)

// Reader decompresses a gzip or raw DEFLATE stream. It is not safe for concurrent use.
type Reader struct {
	r    io.Reader
	gzip bool

	in       []byte
	ip, iend int
	rerr     error // sticky error of r (io.EOF included)
	consumed int64 // input bytes dropped from the front of in, for error offsets

	bb uint64 // bit buffer, LSB first; bits above bl are the next input bytes or zero
	bl uint   // valid bits in bb, at most 63

	out    []byte
	op     int // end of output
	rp     int // start of output not yet returned to the caller
	hp     int // start of output not yet hashed into crc
	lo     int // start of the current DEFLATE stream's output in out (distance limit)
	state  state
	final  bool
	stored int
	crc    uint32
	size   uint32

	lit  *[litEnough]uint32
	dist *[distEnough]uint32

	litDyn  [litEnough]uint32
	distDyn [distEnough]uint32
	clTab   [clEnough]uint32
	lens    [286 + 30]uint8

	err error // sticky: io.EOF at the end, or the first failure
}

// NewReader returns a Reader of the gzip stream r. Like compress/gzip.NewReader it reads
// the first member's header now: an empty r gives io.EOF, a bad header [ErrHeader].
func NewReader(r io.Reader) (*Reader, error) {
	d := newReader(r)
	d.gzip = true
	d.state = stHeader
	if err := d.header(true); err != nil {
		return nil, err
	}
	d.state = stBlock
	return d, nil
}

// NewRawReader returns a Reader of the raw DEFLATE stream r (no framing), like
// compress/flate.NewReader. It ends after the final block.
func NewRawReader(r io.Reader) *Reader {
	d := newReader(r)
	d.state = stBlock
	return d
}

func newReader(r io.Reader) *Reader { return newReaderSize(r, inSize, outSize) }

// newReaderSize lets the tests use tiny buffers, so that every buffer end is met often.
func newReaderSize(r io.Reader, in, out int) *Reader {
	return &Reader{
		r:   r,
		in:  make([]byte, in),
		out: make([]byte, histSize+out+maxMatch+fastSlack),
	}
}

// Read implements io.Reader.
func (d *Reader) Read(p []byte) (int, error) {
	for d.rp == d.op {
		if d.err != nil {
			return 0, d.err
		}
		if len(p) == 0 {
			return 0, nil
		}
		d.fill()
	}
	n := copy(p, d.out[d.rp:d.op])
	d.rp += n
	return n, nil
}

// WriteTo implements io.WriterTo: it writes the output straight from the decoder's buffer,
// in chunks of up to 256 KiB.
func (d *Reader) WriteTo(w io.Writer) (int64, error) {
	var n int64
	for {
		if d.rp < d.op {
			m, err := w.Write(d.out[d.rp:d.op])
			if m < 0 || m > d.op-d.rp {
				m = 0
				if err == nil {
					err = errors.New("inflate: invalid Write count")
				}
			}
			d.rp += m
			n += int64(m)
			if err != nil {
				return n, err
			}
			if d.rp < d.op {
				return n, io.ErrShortWrite
			}
		}
		if d.err != nil {
			if d.err == io.EOF {
				return n, nil
			}
			return n, d.err
		}
		d.fill()
	}
}

// Close does nothing (it does not close the underlying reader); it is here so that a
// Reader is an io.ReadCloser like compress/gzip's.
func (d *Reader) Close() error { return nil }

// panicOnBug lets a decoder panic through (tests and fuzzers set it); see contain.
var panicOnBug bool

// contain turns a panic while decoding (a decoder bug: any input is meant to give data or
// an error) into the Reader's sticky error, so that a crafted layer gets the error its
// layer is reported with, not a crash of the process.
func (d *Reader) contain() {
	if panicOnBug {
		return
	}
	if v := recover(); v != nil {
		d.rp, d.op = 0, 0
		d.err = fmt.Errorf("%w: decoder failure on this input (please report it): %v", ErrCorrupt, v)
	}
}

// fill decodes into out until it is nearly full, the stream ends (d.err = io.EOF) or fails.
func (d *Reader) fill() {
	defer d.contain()
	if d.rp == d.op && len(d.out)-d.op < (len(d.out)-histSize)/2 {
		d.slide()
	}
	defer d.hash()
	for d.err == nil {
		var err error
		full := false
		switch d.state {
		case stBlock:
			if d.final {
				if d.gzip {
					d.state = stTrailer
				} else {
					d.state = stDone
				}
				continue
			}
			err = d.blockHeader()
		case stHuff:
			full, err = d.huff()
		case stStored:
			full, err = d.storedData()
		case stTrailer:
			err = d.trailer()
		case stNext:
			err = d.header(false)
		case stDone:
			err = io.EOF
		default:
			err = errors.New("inflate: internal error: bad state")
		}
		if err != nil {
			d.err = err
		}
		if full {
			return
		}
	}
}

// slide moves the last 32 KiB of output to the front of out, once it has all been read.
func (d *Reader) slide() {
	d.hash()
	if d.op <= histSize {
		return
	}
	shift := d.op - histSize
	copy(d.out, d.out[shift:d.op])
	d.op, d.rp, d.hp = histSize, histSize, histSize
	d.lo = max(0, d.lo-shift)
}

func (d *Reader) hash() {
	if d.hp < d.op {
		if d.gzip {
			d.crc = crc32.Update(d.crc, crc32.IEEETable, d.out[d.hp:d.op])
			d.size += uint32(d.op - d.hp)
		}
		d.hp = d.op
	}
}

// more reads more input into in. It returns io.EOF (or the read error) when none came.
func (d *Reader) more() error {
	if d.rerr != nil {
		return d.rerr
	}
	if d.ip > 0 {
		d.consumed += int64(d.ip)
		d.iend = copy(d.in, d.in[d.ip:d.iend])
		d.ip = 0
	}
	if d.iend == len(d.in) {
		return nil
	}
	for range maxReads {
		n, err := d.r.Read(d.in[d.iend:])
		if n < 0 || n > len(d.in)-d.iend {
			n, err = 0, errors.New("inflate: invalid Read count")
		}
		d.iend += n
		if err != nil {
			d.rerr = err
			if n > 0 {
				return nil
			}
			return err
		}
		if n > 0 {
			return nil
		}
	}
	d.rerr = io.ErrNoProgress
	return d.rerr
}

// noEOF turns the end of input in the middle of something into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (d *Reader) corrupt(why string) error {
	return fmt.Errorf("%w: %s (near input byte %d)", ErrCorrupt, why, d.consumed+int64(d.ip)-int64(d.bl/8))
}

// want tries to have at least n (<= 32) bits in bb, reading more input if needed. It
// returns an error only when reading failed with something other than io.EOF; callers
// check bl against what they really need.
func (d *Reader) want(n uint) error {
	for d.bl < n {
		if d.ip == d.iend {
			if err := d.more(); err != nil {
				if err == io.EOF {
					return nil
				}
				return err
			}
			continue
		}
		d.bb |= uint64(d.in[d.ip]) << d.bl
		d.ip++
		d.bl += 8
	}
	return nil
}

// bits consumes and returns n (<= 32) bits.
func (d *Reader) bits(n uint) (uint32, error) {
	if err := d.want(n); err != nil {
		return 0, err
	}
	if d.bl < n {
		return 0, io.ErrUnexpectedEOF
	}
	v := uint32(d.bb & (1<<n - 1))
	d.bb >>= n
	d.bl -= n
	return v, nil
}

// align drops the bits up to the next byte boundary.
func (d *Reader) align() {
	k := d.bl & 7
	d.bb >>= k
	d.bl -= k
}

// readByte reads one byte-aligned byte (bl is a multiple of 8).
func (d *Reader) readByte() (byte, error) {
	if d.bl >= 8 {
		b := byte(d.bb)
		d.bb >>= 8
		d.bl -= 8
		return b, nil
	}
	d.bb, d.bl = 0, 0 // what was above bl is in[ip], which is now read directly
	if d.ip == d.iend {
		if err := d.more(); err != nil {
			return 0, err
		}
	}
	b := d.in[d.ip]
	d.ip++
	return b, nil
}

func (d *Reader) readFull(p []byte) error {
	for i := range p {
		b, err := d.readByte()
		if err != nil {
			if i > 0 {
				return noEOF(err)
			}
			return err
		}
		p[i] = b
	}
	return nil
}

// header reads a gzip member header, as compress/gzip's readHeader does. first is false
// for the members after the first: then a clean end of input is the end of the stream.
func (d *Reader) header(first bool) error {
	d.align()
	var h [10]byte
	if err := d.readFull(h[:]); err != nil {
		if err == io.EOF && !first {
			d.state = stDone
			return nil
		}
		return err
	}
	if h[0] != 0x1f || h[1] != 0x8b || h[2] != 8 {
		return ErrHeader
	}
	flg := h[3]
	digest := crc32.ChecksumIEEE(h[:])
	var b [2]byte
	if flg&0x04 != 0 { // FEXTRA: skipped, never allocated
		if err := d.readFull(b[:]); err != nil {
			return noEOF(err)
		}
		digest = crc32.Update(digest, crc32.IEEETable, b[:])
		n := int(b[0]) | int(b[1])<<8
		var one [1]byte
		for range n {
			if err := d.readFull(one[:]); err != nil {
				return noEOF(err)
			}
			digest = crc32.Update(digest, crc32.IEEETable, one[:])
		}
	}
	for _, f := range []byte{0x08, 0x10} { // FNAME, FCOMMENT: zero-terminated, < 512 bytes as in compress/gzip
		if flg&f == 0 {
			continue
		}
		var one [1]byte
		for i := 0; ; i++ {
			if i >= 512 {
				return ErrHeader
			}
			if err := d.readFull(one[:]); err != nil {
				return noEOF(err)
			}
			digest = crc32.Update(digest, crc32.IEEETable, one[:])
			if one[0] == 0 {
				break
			}
		}
	}
	if flg&0x02 != 0 { // FHCRC
		if err := d.readFull(b[:]); err != nil {
			return noEOF(err)
		}
		if uint16(b[0])|uint16(b[1])<<8 != uint16(digest) {
			return ErrHeader
		}
	}
	d.crc, d.size = 0, 0
	d.final = false
	d.lo = d.op
	d.state = stBlock
	return nil
}

func (d *Reader) trailer() error {
	d.hash()
	d.align()
	var t [8]byte
	if err := d.readFull(t[:]); err != nil {
		return noEOF(err)
	}
	crc := uint32(t[0]) | uint32(t[1])<<8 | uint32(t[2])<<16 | uint32(t[3])<<24
	size := uint32(t[4]) | uint32(t[5])<<8 | uint32(t[6])<<16 | uint32(t[7])<<24
	if crc != d.crc || size != d.size {
		return ErrChecksum
	}
	d.state = stNext
	return nil
}

// blockHeader reads a block header and sets up the block.
func (d *Reader) blockHeader() error {
	h, err := d.bits(3)
	if err != nil {
		return noEOF(err)
	}
	d.final = h&1 != 0
	switch h >> 1 {
	case 0:
		d.align()
		var b [4]byte
		if err := d.readFull(b[:]); err != nil {
			return noEOF(err)
		}
		n := uint16(b[0]) | uint16(b[1])<<8
		if nn := uint16(b[2]) | uint16(b[3])<<8; n != ^nn {
			return d.corrupt("stored block length does not match its complement")
		}
		d.stored = int(n)
		d.state = stStored
	case 1:
		d.lit, d.dist = fixedLit, fixedDist
		d.state = stHuff
	case 2:
		if err := d.dynamic(); err != nil {
			return err
		}
		d.lit, d.dist = &d.litDyn, &d.distDyn
		d.state = stHuff
	default:
		return d.corrupt("reserved block type")
	}
	return nil
}

var clOrder = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

// dynamic reads the code lengths of a dynamic block and builds its tables, with
// compress/flate's checks.
func (d *Reader) dynamic() error {
	v, err := d.bits(14)
	if err != nil {
		return noEOF(err)
	}
	nlit := int(v&31) + 257
	ndist := int(v>>5&31) + 1
	nclen := int(v>>10) + 4
	if nlit > 286 {
		return d.corrupt("more than 286 literal/length codes")
	}
	if ndist > 30 {
		return d.corrupt("more than 30 distance codes")
	}
	var cl [19]uint8
	for i := range nclen {
		x, err := d.bits(3)
		if err != nil {
			return noEOF(err)
		}
		cl[clOrder[i]] = uint8(x)
	}
	if !build(d.clTab[:], cl[:], clTableBits, clTmpl[:], cInv, cInv) {
		return d.corrupt("invalid code length code")
	}
	n := nlit + ndist
	lens := d.lens[:n]
	for i := 0; i < n; {
		if err := d.want(clTableBits); err != nil {
			return err
		}
		e := d.clTab[d.bb&clMask]
		if e&cInv != 0 {
			if d.bl < clTableBits {
				return io.ErrUnexpectedEOF
			}
			return d.corrupt("invalid code length symbol")
		}
		l := uint(e & 0xff)
		if l > d.bl {
			return io.ErrUnexpectedEOF
		}
		d.bb >>= l
		d.bl -= l
		sym := uint8(e >> valShift)
		if sym < 16 {
			lens[i] = sym
			i++
			continue
		}
		var rep int
		var fillv uint8
		switch sym {
		case 16:
			if i == 0 {
				return d.corrupt("repeat of no previous code length")
			}
			x, err := d.bits(2)
			if err != nil {
				return noEOF(err)
			}
			rep, fillv = 3+int(x), lens[i-1]
		case 17:
			x, err := d.bits(3)
			if err != nil {
				return noEOF(err)
			}
			rep = 3 + int(x)
		default:
			x, err := d.bits(7)
			if err != nil {
				return noEOF(err)
			}
			rep = 11 + int(x)
		}
		if i+rep > n {
			return d.corrupt("code lengths repeat past the end")
		}
		for range rep {
			lens[i] = fillv
			i++
		}
	}
	if !build(d.litDyn[:], lens[:nlit], litTableBits, litTmpl[:], fExc|fSub, fExc) {
		return d.corrupt("invalid literal/length code")
	}
	if !build(d.distDyn[:], lens[nlit:], distTableBits, distTmpl[:], dSub, dInv) {
		return d.corrupt("invalid distance code")
	}
	return nil
}

// storedData copies a stored block's bytes.
func (d *Reader) storedData() (full bool, err error) {
	for d.stored > 0 {
		if d.op == len(d.out) {
			return true, nil
		}
		if d.bl >= 8 {
			d.out[d.op] = byte(d.bb)
			d.bb >>= 8
			d.bl -= 8
			d.op++
			d.stored--
			continue
		}
		d.bb, d.bl = 0, 0
		if d.ip == d.iend {
			if err := d.more(); err != nil {
				return false, noEOF(err)
			}
		}
		n := copy(d.out[d.op:], d.in[d.ip:min(d.iend, d.ip+d.stored)])
		d.op += n
		d.ip += n
		d.stored -= n
	}
	d.state = stBlock
	return false, nil
}
