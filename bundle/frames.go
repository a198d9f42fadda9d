package bundle

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// Compression selects how the tar stream is stored.
type Compression string

const (
	Zstd Compression = "zstd" // the default
	None Compression = "none"
)

// Level is the zstd level for compressible entries.
type Level string

const (
	LevelFastest Level = "fastest"
	LevelDefault Level = "default" // the default
	LevelBetter  Level = "better"
)

func (l Level) encoderLevel() (zstd.EncoderLevel, error) {
	switch l {
	case LevelFastest:
		return zstd.SpeedFastest, nil
	case LevelDefault, "":
		return zstd.SpeedDefault, nil
	case LevelBetter:
		return zstd.SpeedBetterCompression, nil
	}
	return 0, fmt.Errorf("compression level %q: want fastest, default or better", string(l))
}

// frameMode says how one frame's bytes are encoded.
type frameMode int

const (
	modeCompress frameMode = iota // zstd at the writer's level
	modeRaw                       // raw zstd blocks: data that is already compressed
)

// chunkSize bounds a frame's uncompressed size, so that memory stays constant and large
// blobs still compress on every worker.
const chunkSize = 4 << 20

// rawOverhead is what a raw frame of chunkSize bytes adds: the frame header (magic, one
// descriptor byte, a 4-byte content size) and a 3-byte header per block.
const rawOverhead = 9 + 3*(chunkSize/maxRawBlock)

// segmentWriter is where the tar stream goes: Cut ends the current frame (at an entry
// boundary) and sets how the next bytes are encoded. ReadFrom copies a blob's bytes
// straight into the frame being filled (no intermediate buffer).
type segmentWriter interface {
	io.Writer
	io.ReaderFrom
	Cut(next frameMode) error
	Close() error
}

// plainWriter stores the tar stream as is.
type plainWriter struct{ io.Writer }

func (plainWriter) Cut(frameMode) error { return nil }
func (plainWriter) Close() error        { return nil }

// ReadFrom copies r with a buffer of one chunk: few large writes downstream.
func (p plainWriter) ReadFrom(r io.Reader) (int64, error) {
	return io.CopyBuffer(struct{ io.Writer }{p.Writer}, r, make([]byte, 1<<20))
}

// frameWriter writes the tar stream as a sequence of independent zstd frames, encoded by
// a few workers in parallel and written in order. Memory is bounded by the buffer pool:
// workers+2 frame buffers of a chunk each, and as many output buffers for the frames
// that are compressed.
//
// A raw frame (already compressed data) is laid out in its buffer as it will be written,
// block headers included, as the bytes come in: it is written from there with no copy
// and takes no worker.
type frameWriter struct {
	out   io.Writer
	level zstd.EncoderLevel

	buf  *frameBuf
	mode frameMode

	free    chan *frameBuf // frame buffers
	outs    chan []byte    // output buffers of compressed frames
	jobs    chan *frameJob // to the workers
	ordered chan *frameJob // to the output goroutine, in stream order
	wg      sync.WaitGroup
	outDone chan struct{}

	mu  sync.Mutex
	err error
	n   int64 // compressed bytes written
}

// frameBuf is one frame being filled: the data itself (modeCompress), or the whole raw
// frame with its headers (modeRaw).
type frameBuf struct {
	b    []byte
	n    int // data bytes in b
	mode frameMode
}

type frameJob struct {
	fb   *frameBuf // the raw frame to write; nil once a compressed frame is encoded
	out  []byte    // the encoded frame (modeCompress)
	err  error
	done chan struct{}
}

func newFrameWriter(out io.Writer, level zstd.EncoderLevel, workers int) *frameWriter {
	if workers <= 0 {
		workers = min(runtime.GOMAXPROCS(0), 4)
	}
	fw := &frameWriter{
		out:     out,
		level:   level,
		free:    make(chan *frameBuf, workers+2),
		outs:    make(chan []byte, workers+2),
		jobs:    make(chan *frameJob, workers),
		ordered: make(chan *frameJob, workers+1),
		outDone: make(chan struct{}),
	}
	for range workers + 2 {
		fw.free <- nil // allocated on first use
		fw.outs <- nil
	}
	fw.buf = fw.getBuf()
	for range workers {
		fw.wg.Add(1)
		go fw.worker()
	}
	go fw.output()
	return fw
}

func (fw *frameWriter) getBuf() *frameBuf {
	fb := <-fw.free
	if fb == nil {
		fb = &frameBuf{b: make([]byte, 0, chunkSize+rawOverhead)}
	}
	fb.b, fb.n = fb.b[:0], 0
	return fb
}

func (fw *frameWriter) worker() {
	defer fw.wg.Done()
	var enc, probe *zstd.Encoder
	for j := range fw.jobs {
		j.out = <-fw.outs
		if j.out == nil {
			// Room for the worst case, a frame of raw blocks: no growing, no garbage.
			j.out = make([]byte, 0, chunkSize+rawOverhead+64)
		}
		if enc == nil {
			enc, j.err = zstd.NewWriter(nil, zstd.WithEncoderLevel(fw.level), zstd.WithEncoderConcurrency(1),
				zstd.WithWindowSize(chunkSize), zstd.WithLowerEncoderMem(true))
		}
		if probe == nil && j.err == nil {
			probe, j.err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1),
				zstd.WithWindowSize(probeSize), zstd.WithLowerEncoderMem(true))
		}
		switch {
		case j.err != nil:
		case incompressible(probe, j.fb.b, j.out[:0]):
			j.out = appendRawFrame(j.out[:0], j.fb.b)
		default:
			j.out = enc.EncodeAll(j.fb.b, j.out[:0])
		}
		// The input is no longer needed: the next frame can be filled while this one
		// waits for its turn to be written.
		fw.free <- j.fb
		j.fb = nil
		close(j.done)
	}
}

func (fw *frameWriter) output() {
	defer close(fw.outDone)
	for j := range fw.ordered {
		<-j.done
		err := j.err
		if err == nil && fw.failed() == nil {
			b := j.out
			if j.fb != nil { // a raw frame, written from its buffer
				b = j.fb.b
			}
			var n int
			n, err = fw.out.Write(b)
			fw.mu.Lock()
			fw.n += int64(n)
			fw.mu.Unlock()
		}
		if err != nil {
			fw.fail(err)
		}
		if j.fb != nil {
			fw.free <- j.fb
		} else {
			fw.outs <- j.out[:0]
		}
	}
}

func (fw *frameWriter) fail(err error) {
	fw.mu.Lock()
	if fw.err == nil {
		fw.err = err
	}
	fw.mu.Unlock()
}

func (fw *frameWriter) failed() error {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	return fw.err
}

func (fw *frameWriter) dispatch() {
	fb := fw.buf
	if fb.n == 0 {
		return
	}
	j := &frameJob{fb: fb, done: make(chan struct{})}
	fw.ordered <- j
	if fb.mode == modeRaw {
		finishRawFrame(fb.b, fb.n)
		close(j.done)
	} else {
		fw.jobs <- j
	}
	fw.buf = fw.getBuf()
}

// space returns where the next data bytes go in the current frame: up to the end of the
// chunk, and in a raw frame up to the end of the block (its header is reserved first).
func (fw *frameWriter) space() []byte {
	fb := fw.buf
	if fb.n == 0 && len(fb.b) == 0 {
		fb.mode = fw.mode
		if fb.mode == modeRaw {
			fb.b = append(fb.b, make([]byte, 9)...) // frame header, finished at dispatch
		}
	}
	room := chunkSize - fb.n
	if fb.mode == modeRaw {
		if fb.n%maxRawBlock == 0 && len(fb.b) == rawFrameLen(fb.n) {
			fb.b = append(fb.b, 0, 0, 0) // block header, finished at dispatch
		}
		room = min(room, maxRawBlock-fb.n%maxRawBlock)
	}
	return fb.b[len(fb.b) : len(fb.b)+room]
}

// filled records k data bytes written into space() and dispatches a full frame.
func (fw *frameWriter) filled(k int) {
	fw.buf.b = fw.buf.b[:len(fw.buf.b)+k]
	fw.buf.n += k
	if fw.buf.n == chunkSize {
		fw.dispatch()
	}
}

func (fw *frameWriter) Write(p []byte) (int, error) {
	if err := fw.failed(); err != nil {
		return 0, err
	}
	n := len(p)
	for len(p) > 0 {
		k := copy(fw.space(), p)
		p = p[k:]
		fw.filled(k)
	}
	return n, nil
}

// ReadFrom reads r to its end straight into the frames.
func (fw *frameWriter) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	for {
		if err := fw.failed(); err != nil {
			return total, err
		}
		k, err := r.Read(fw.space())
		total += int64(k)
		fw.filled(k)
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

func (fw *frameWriter) Cut(next frameMode) error {
	fw.dispatch()
	if fw.buf.n == 0 {
		fw.buf.b = fw.buf.b[:0] // a reserved header of the old mode
	}
	fw.mode = next
	return fw.failed()
}

// Close flushes the last frame and waits for every frame to be written.
func (fw *frameWriter) Close() error {
	fw.dispatch()
	close(fw.jobs)
	close(fw.ordered)
	fw.wg.Wait()
	<-fw.outDone
	return fw.failed()
}

// Written reports the compressed bytes written so far.
func (fw *frameWriter) Written() int64 {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	return fw.n
}

const (
	zstdMagic      = 0xFD2FB528
	maxRawBlock    = 128 << 10
	skippableMagic = 0x184D2A50 // low nibble varies
)

// Probing: a frame is stored raw when probeCount samples of probeSize bytes, spread over
// it, shrink by less than 1/probeMargin at zstd's fastest level. Random or encrypted
// data in an uncompressed layer then costs a copy instead of a full encoding pass (which
// would store the same bytes anyway), for about 1.5% of the frame's encoding time.
const (
	probeSize   = 16 << 10
	probeCount  = 4
	probeMargin = 32 // 3%
)

// incompressible reports whether p looks incompressible from samples; scratch is a
// buffer it may use.
func incompressible(probe *zstd.Encoder, p, scratch []byte) bool {
	if len(p) < probeCount*probeSize*2 {
		return false // small frames (headers, metadata) are encoded whole
	}
	in, out := 0, 0
	for i := range probeCount {
		off := (len(p) - probeSize) * i / (probeCount - 1)
		sample := p[off : off+probeSize]
		scratch = probe.EncodeAll(sample, scratch[:0])
		in += len(sample)
		out += len(scratch)
	}
	return out >= in-in/probeMargin
}

// rawFrameLen is the length of a raw frame holding n bytes, without its last block's
// header when n ends a block: what a frameBuf holds before more data opens the next block.
func rawFrameLen(n int) int {
	return 9 + 3*((n+maxRawBlock-1)/maxRawBlock) + n
}

// finishRawFrame fills in the headers reserved in a raw frame laid out by frameWriter:
// the same bytes as appendRawFrame of its n data bytes.
func finishRawFrame(b []byte, n int) {
	binary.LittleEndian.PutUint32(b, zstdMagic)
	b[4] = 0xA0
	binary.LittleEndian.PutUint32(b[5:], uint32(n))
	pos := 9
	for left := n; left > 0; {
		k := min(left, maxRawBlock)
		last := uint32(0)
		if k == left {
			last = 1
		}
		h := last | uint32(k)<<3
		b[pos], b[pos+1], b[pos+2] = byte(h), byte(h>>8), byte(h>>16)
		pos += 3 + k
		left -= k
	}
}

// appendRawFrame appends a zstd frame holding p in raw (stored) blocks: valid zstd that
// costs a memcpy to write and to read.
func appendRawFrame(dst, p []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, zstdMagic)
	// Frame header: single segment, 4-byte content size, no checksum, no dictionary.
	dst = append(dst, 0xA0)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(p)))
	for {
		n := min(len(p), maxRawBlock)
		last := uint32(0)
		if n == len(p) {
			last = 1
		}
		h := last | uint32(n)<<3 // block type 0: raw
		dst = append(dst, byte(h), byte(h>>8), byte(h>>16))
		dst = append(dst, p[:n]...)
		p = p[n:]
		if last == 1 {
			return dst
		}
	}
}

var errNotZstd = errors.New("not a zstd frame")

// frameLen returns the length of the zstd frame (or skippable frame) at the start of r,
// walking block headers without decoding.
func frameLen(r io.Reader) (int64, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, err
	}
	magic := binary.LittleEndian.Uint32(hdr[:])
	if magic&0xFFFFFFF0 == skippableMagic {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return 0, err
		}
		size := int64(binary.LittleEndian.Uint32(hdr[:]))
		if _, err := io.CopyN(io.Discard, r, size); err != nil {
			return 0, err
		}
		return 8 + size, nil
	}
	if magic != zstdMagic {
		return 0, errNotZstd
	}
	var fhd [1]byte
	if _, err := io.ReadFull(r, fhd[:]); err != nil {
		return 0, err
	}
	single := fhd[0]>>5&1 == 1
	n := int64(5)
	skip := int64([]int{0, 1, 2, 4}[fhd[0]&3])
	if !single {
		skip++ // window descriptor
	}
	switch fcs := fhd[0] >> 6; {
	case fcs == 0 && single:
		skip++
	case fcs > 0:
		skip += int64(1) << fcs // 2, 4, 8
	}
	if _, err := io.CopyN(io.Discard, r, skip); err != nil {
		return 0, err
	}
	n += skip
	for {
		var bh [3]byte
		if _, err := io.ReadFull(r, bh[:]); err != nil {
			return 0, err
		}
		h := uint32(bh[0]) | uint32(bh[1])<<8 | uint32(bh[2])<<16
		size := int64(h >> 3)
		switch h >> 1 & 3 {
		case 1: // RLE: one byte repeated size times
			size = 1
		case 3:
			return 0, fmt.Errorf("zstd frame: reserved block type")
		}
		if _, err := io.CopyN(io.Discard, r, size); err != nil {
			return 0, err
		}
		n += 3 + size
		if h&1 == 1 {
			break
		}
	}
	if fhd[0]>>2&1 == 1 {
		if _, err := io.CopyN(io.Discard, r, 4); err != nil {
			return 0, err
		}
		n += 4
	}
	return n, nil
}
