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

// segmentWriter is where the tar stream goes: Cut ends the current frame (at an entry
// boundary) and sets how the next bytes are encoded.
type segmentWriter interface {
	io.Writer
	Cut(next frameMode) error
	Close() error
}

// plainWriter stores the tar stream as is.
type plainWriter struct{ io.Writer }

func (plainWriter) Cut(frameMode) error { return nil }
func (plainWriter) Close() error        { return nil }

// frameWriter writes the tar stream as a sequence of independent zstd frames, encoded by
// a few workers in parallel and written in order. Memory is bounded by the buffer pool.
type frameWriter struct {
	out   io.Writer
	level zstd.EncoderLevel

	buf  []byte
	mode frameMode

	free    chan []byte    // input buffers
	outs    chan []byte    // output buffers
	jobs    chan *frameJob // to the workers
	ordered chan *frameJob // to the output goroutine, in stream order
	wg      sync.WaitGroup
	outDone chan struct{}

	mu  sync.Mutex
	err error
	n   int64 // compressed bytes written
}

type frameJob struct {
	in   []byte
	mode frameMode
	out  []byte
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
		free:    make(chan []byte, workers+2),
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

func (fw *frameWriter) getBuf() []byte {
	b := <-fw.free
	if b == nil {
		b = make([]byte, 0, chunkSize)
	}
	return b[:0]
}

func (fw *frameWriter) worker() {
	defer fw.wg.Done()
	var enc *zstd.Encoder
	for j := range fw.jobs {
		j.out = fw.getOut()
		if j.mode == modeRaw {
			j.out = appendRawFrame(j.out[:0], j.in)
		} else {
			if enc == nil {
				enc, j.err = zstd.NewWriter(nil, zstd.WithEncoderLevel(fw.level), zstd.WithEncoderConcurrency(1),
					zstd.WithWindowSize(chunkSize), zstd.WithLowerEncoderMem(true))
			}
			if j.err == nil {
				j.out = enc.EncodeAll(j.in, j.out[:0])
			}
		}
		close(j.done)
	}
}

func (fw *frameWriter) output() {
	defer close(fw.outDone)
	for j := range fw.ordered {
		<-j.done
		err := j.err
		if err == nil && fw.failed() == nil {
			var n int
			n, err = fw.out.Write(j.out)
			fw.mu.Lock()
			fw.n += int64(n)
			fw.mu.Unlock()
		}
		if err != nil {
			fw.fail(err)
		}
		fw.free <- j.in[:0]
		fw.outs <- j.out[:0]
	}
}

// getOut returns a reusable output buffer; there are as many as input buffers.
func (fw *frameWriter) getOut() []byte {
	return <-fw.outs
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
	if len(fw.buf) == 0 {
		return
	}
	j := &frameJob{in: fw.buf, mode: fw.mode, done: make(chan struct{})}
	fw.ordered <- j
	fw.jobs <- j
	fw.buf = fw.getBuf()
}

func (fw *frameWriter) Write(p []byte) (int, error) {
	if err := fw.failed(); err != nil {
		return 0, err
	}
	n := len(p)
	for len(p) > 0 {
		room := chunkSize - len(fw.buf)
		k := min(room, len(p))
		fw.buf = append(fw.buf, p[:k]...)
		p = p[k:]
		if len(fw.buf) == chunkSize {
			fw.dispatch()
		}
	}
	return n, nil
}

func (fw *frameWriter) Cut(next frameMode) error {
	fw.dispatch()
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
