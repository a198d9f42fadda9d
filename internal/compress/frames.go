package compress

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// A zstd stream of small independent frames, as imgx bundles are (docs/bundle-format.md:
// frames of at most 4 MiB, already compressed blobs in raw blocks), decodes faster frame
// by frame than through one streaming decoder:
//   - a frame of raw blocks is read into a buffer and handed out from there: two copies of
//     each byte, where the streaming decoder makes three (block, history, output) and a
//     read-ahead after it a fourth;
//   - a compressed frame is decoded whole (DecodeAll) in a goroutine of its own, so that
//     several frames decode at once on several cores.
//
// A goroutine reads frames ahead of the consumer, which makes a read-ahead after the
// decoder unnecessary. Only well-formed frames of known content size up to maxFrameContent
// take these paths. Anything else (a big or unsized frame from another tool, a dictionary,
// bad or truncated data) goes, from the first byte of that frame on, to the streaming
// decoder, so that the output and every error are the streaming decoder's own:
// FuzzFrames checks that both agree.

const (
	// maxFrameContent bounds a frame decoded here: imgx writes at most 4 MiB per frame.
	maxFrameContent = 4 << 20
	// maxFrameBlocks bounds the blocks of such a frame (a 4 MiB raw frame has 32).
	maxFrameBlocks = 256
	// frameBufSize holds any frame this path takes, as read: header, block headers,
	// content, checksum.
	frameBufSize = maxFrameContent + 3*maxFrameBlocks + 32
	maxBlockSize = 128 << 10
	minWindow    = 1 << 10
	// frameDepth is how many decoded frames may wait for the consumer.
	frameDepth = 1
	// frameBufs is how many frames, as read, a reader holds at most: the one being
	// handed out and the next, being read or queued. A third measured no faster and
	// cost the SFTP receive 10 MB of RSS.
	frameBufs = frameDepth + 1
	// smallFrame is the content size up to which a compressed frame's output gets a
	// buffer of its own size rather than a pooled one of maxFrameContent.
	smallFrame = 256 << 10
	// fallbackChunk is the size of the pieces the streaming decoder's output is queued in.
	fallbackChunk = 1 << 20
)

// frame is one unit of output, in stream order.
type frame struct {
	in    []byte        // the frame as read (verbatim)
	out   []byte        // the bytes to hand out; for a raw frame, nil (see segs)
	segs  [][2]int      // a raw frame: its blocks' contents, as offsets into in
	ready chan struct{} // closed once out and err are set (a compressed frame decodes in a goroutine)
	err   error         // after out: the stream fails here
}

// frameReader is the frame-by-frame zstd decoder; see the comment at the top of the file.
type frameReader struct {
	ctx   context.Context
	src   io.Reader
	queue chan *frame
	stop  chan struct{}
	free  chan []byte // buffers of getBuf handed back
	bufs  int         // buffers of getBuf made
	once  sync.Once

	cur   *frame
	ahead *frame // taken from the queue, not yet ready (a compressed frame being decoded)
	seg   int    // cur: the segment being handed out, for a raw frame
	rest  []byte
	err   error
}

// outBufs recycles the output buffers of compressed frames.
var outBufs = sync.Pool{New: func() any { b := make([]byte, 0, maxFrameContent); return &b }}

func putOutBuf(b []byte) {
	if cap(b) == maxFrameContent {
		b = b[:0]
		outBufs.Put(&b)
	}
}

// getBuf returns a buffer for a frame as read: one of at most frameBufs, so that the
// reader's memory stays fixed; false once the reader is closed.
func (z *frameReader) getBuf() ([]byte, bool) {
	select {
	case b := <-z.free:
		return b[:0], true
	default:
	}
	if z.bufs < frameBufs {
		z.bufs++
		if b, ok := spareBufs.Get().(*[]byte); ok {
			return (*b)[:0], true
		}
		return make([]byte, 0, frameBufSize), true
	}
	select {
	case b := <-z.free:
		return b[:0], true
	case <-z.stop:
		return nil, false
	}
}

// spareBufs holds the idle frame buffers of closed readers for the next one: ingest
// reads bundle after bundle.
var spareBufs sync.Pool

// putBuf gives back a buffer of getBuf; others (a fallback's) are dropped.
func (z *frameReader) putBuf(b []byte) {
	if cap(b) == frameBufSize {
		select {
		case z.free <- b:
		default:
		}
	}
}

// decodeAll decodes whole frames, as many at once as there are cores.
var decodeAll = sync.OnceValues(func() (*zstd.Decoder, error) {
	return zstd.NewReader(nil, zstd.WithDecoderConcurrency(runtime.GOMAXPROCS(0)), zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(MaxZstdWindow), zstd.WithDecoderMaxMemory(maxFrameContent))
})

// newFrameReader starts decoding the zstd stream src frame by frame. Close stops it; so
// does ctx (nil: never) for a Read waiting on the source.
func newFrameReader(ctx context.Context, src io.Reader) *frameReader {
	if ctx == nil {
		ctx = context.Background()
	}
	z := &frameReader{ctx: ctx, src: src, queue: make(chan *frame, frameDepth), stop: make(chan struct{}),
		free: make(chan []byte, frameBufs)}
	go z.run()
	return z
}

// Read fills p as far as the frames already decoded go: a raw frame's 128 KiB blocks do
// not each cost the caller a round (a hand-over to a hasher, a write(2)).
func (z *frameReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(z.rest) > 0 {
			c := copy(p[n:], z.rest)
			z.rest = z.rest[c:]
			n += c
			continue
		}
		if f := z.cur; f != nil && z.seg < len(f.segs) {
			s := f.segs[z.seg]
			z.seg++
			z.rest = f.in[s[0]:s[1]]
			continue
		}
		if f := z.cur; f != nil {
			if f.err != nil {
				z.err = f.err
			}
			z.putBuf(f.in)
			putOutBuf(f.out)
			z.cur = nil
		}
		if z.err != nil || !z.next(n == 0) {
			break
		}
	}
	if n > 0 {
		return n, nil
	}
	return 0, z.err
}

// next makes the next decoded frame current. Unless wait, it does so only if that frame
// is ready now; it reports whether there is a current frame, or else sets z.err at the
// end of the stream, on cancellation or on a failure.
func (z *frameReader) next(wait bool) bool {
	if z.ahead == nil {
		var ok bool
		if wait {
			select {
			case z.ahead, ok = <-z.queue:
			case <-z.ctx.Done():
				z.err = z.ctx.Err()
				return false
			}
		} else {
			select {
			case z.ahead, ok = <-z.queue:
			default:
				return false
			}
		}
		if !ok {
			z.err = io.EOF
			return false
		}
	}
	if wait {
		<-z.ahead.ready
	} else {
		select {
		case <-z.ahead.ready:
		default:
			return false
		}
	}
	z.cur, z.seg, z.rest, z.ahead = z.ahead, 0, z.ahead.out, nil
	return true
}

// Close stops the reading goroutine; a Read of the source under way still completes.
func (z *frameReader) Close() error {
	z.once.Do(func() {
		close(z.stop)
		for {
			select {
			case b := <-z.free:
				spareBufs.Put(&b)
			default:
				return
			}
		}
	})
	return nil
}

// send queues f; false once the reader is closed.
func (z *frameReader) send(f *frame) bool {
	select {
	case z.queue <- f:
		return true
	case <-z.stop:
		return false
	}
}

func (z *frameReader) run() {
	defer close(z.queue)
	for {
		f, ok, err := z.readFrame()
		if err != nil { // the source failed, or the stream ended cleanly (io.EOF)
			if err != io.EOF {
				z.send(&frame{ready: closed, err: err})
			}
			return
		}
		if !ok {
			// Not a frame for this path: the streaming decoder takes over from its start.
			z.fallback(f.in)
			return
		}
		if !z.send(f) {
			return
		}
	}
}

var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// readFrame reads the next frame. ok is false, with f.in holding every byte of the frame
// read so far, when the frame is not one this path decodes. err is io.EOF at a clean end
// of the stream, or a read error of the source.
func (z *frameReader) readFrame() (f *frame, ok bool, err error) {
	buf, ok := z.getBuf()
	if !ok {
		return nil, false, io.EOF
	}
	f = &frame{ready: closed}
	// Magic and the frame header descriptor first: they say how long the header is.
	var hdr [5]byte
	n, err := io.ReadFull(z.src, hdr[:])
	f.in = append(buf, hdr[:n]...)
	if err != nil {
		if n == 0 && err == io.EOF {
			return nil, false, io.EOF
		}
		return f, false, srcErr(err)
	}
	if binary.LittleEndian.Uint32(hdr[:]) != 0xFD2FB528 {
		return f, false, nil // a skippable frame, or not zstd: the streaming decoder knows
	}
	fhd := hdr[4]
	single := fhd&(1<<5) != 0
	dictSize := [4]int{0, 1, 2, 4}[fhd&3]
	fcsSize := [4]int{0, 2, 4, 8}[fhd>>6]
	if fcsSize == 0 && single {
		fcsSize = 1
	}
	winSize := 1
	if single {
		winSize = 0
	}
	hasSum := fhd&(1<<2) != 0
	if fhd&(1<<3) != 0 || dictSize != 0 || fcsSize == 0 {
		return f, false, nil // reserved bit, a dictionary, or no content size
	}
	// The rest of the header and the first block's header.
	rest := winSize + fcsSize + 3
	f.in = f.in[:5+rest]
	if m, err := io.ReadFull(z.src, f.in[5:]); err != nil {
		f.in = f.in[:5+m]
		return f, false, srcErr(err)
	}
	h := f.in[5:]
	var window uint64
	if !single {
		wd := h[0]
		base := uint64(1) << (10 + wd>>3)
		window = base + base/8*uint64(wd&7)
		h = h[1:]
	}
	var fcs uint64
	switch fcsSize {
	case 1:
		fcs = uint64(h[0])
	case 2:
		fcs = uint64(binary.LittleEndian.Uint16(h)) + 256
	case 4:
		fcs = uint64(binary.LittleEndian.Uint32(h))
	case 8:
		fcs = binary.LittleEndian.Uint64(h)
	}
	if single {
		window = max(fcs, minWindow)
	}
	if fcs > maxFrameContent || window > MaxZstdWindow {
		return f, false, nil
	}
	blockMax := int(min(window, maxBlockSize))
	// The blocks: each read with the next one's header, so one read per block.
	raw := !hasSum
	var content int
	for blocks := 1; ; blocks++ {
		bh := f.in[len(f.in)-3:]
		v := uint32(bh[0]) | uint32(bh[1])<<8 | uint32(bh[2])<<16
		last, typ, size := v&1 != 0, (v>>1)&3, int(v>>3)
		data := size
		switch typ {
		case 0: // raw
			content += size
		case 1: // RLE: one byte, repeated size times
			data = 1
			raw = false
			content += size
		case 2:
			raw = false
		}
		start := len(f.in)
		more := 3
		if last {
			more = 0
			if hasSum {
				more = 4
			}
		}
		if typ == 3 || size > blockMax || blocks > maxFrameBlocks || content > int(fcs) || start+data+more > frameBufSize {
			return f, false, nil
		}
		f.in = f.in[:start+data+more]
		if m, err := io.ReadFull(z.src, f.in[start:]); err != nil {
			f.in = f.in[:start+m]
			return f, false, srcErr(err)
		}
		if typ == 0 {
			f.segs = append(f.segs, [2]int{start, start + size})
		}
		if last {
			break
		}
	}
	if raw {
		if content != int(fcs) {
			return f, false, nil
		}
		return f, true, nil
	}
	// A compressed frame: decoded whole, in a goroutine of its own.
	d, err := decodeAll()
	if err != nil {
		return nil, false, err
	}
	f.segs = nil
	f.ready = make(chan struct{})
	go func() {
		defer close(f.ready)
		// A bundle's metadata frames are small: a pooled 4 MiB buffer each would hold
		// far more than they need.
		var dst []byte
		if fcs > smallFrame {
			dst = (*outBufs.Get().(*[]byte))[:0]
		} else {
			dst = make([]byte, 0, fcs)
		}
		out, err := d.DecodeAll(f.in, dst)
		if err != nil {
			putOutBuf(out)
			// The streaming decoder says what is wrong, in its own words: a frame that
			// fails here fails there too (FuzzFrames).
			f.err = streamErr(bytes.NewReader(f.in))
			if f.err == nil {
				f.err = fmt.Errorf("zstd: %w", err)
			}
			return
		}
		z.putBuf(f.in)
		f.in, f.out = nil, out
	}()
	return f, true, nil
}

// srcErr is a read error of the source: an end of stream inside a frame is the streaming
// decoder's to report (ok false, nil error); anything else is returned as it is.
func srcErr(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return nil
	}
	return err
}

// fallback decodes the rest of the stream, from prefix (what was read of the frame this
// path did not take) on, with the streaming decoder, queueing its output in chunks.
func (z *frameReader) fallback(prefix []byte) {
	d, err := newStreamDecoder(io.MultiReader(bytes.NewReader(prefix), z.src))
	if err != nil {
		z.send(&frame{ready: closed, err: err})
		return
	}
	defer d.Close()
	for {
		// Not io.ReadFull: the decoder's own io.ErrUnexpectedEOF (a cut stream) must not
		// pass for a short last chunk.
		buf := make([]byte, fallbackChunk)
		n := 0
		var err error
		for n < len(buf) && err == nil {
			var m int
			m, err = d.Read(buf[n:])
			n += m
		}
		f := &frame{ready: closed, out: buf[:n]}
		if err != nil && err != io.EOF {
			f.err = err
		}
		if !z.send(f) || err != nil {
			return
		}
	}
}

// streamErr is the error the streaming decoder gives for r, or nil.
func streamErr(r io.Reader) error {
	d, err := newStreamDecoder(r)
	if err != nil {
		return err
	}
	defer d.Close()
	_, err = io.Copy(io.Discard, d)
	return err
}
