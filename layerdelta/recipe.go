package layerdelta

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
)

// MediaType is the media type of a recipe blob.
const MediaType = "application/vnd.imgx.layer.recipe.v1+zstd"

// magic starts a decompressed recipe.
const magic = "IMGXLDR1"

// Limits a reader applies to a recipe before and while it rebuilds from it.
const (
	maxMetaSize = 1 << 20
	maxBases    = 16
)

// Limits bounds what a recipe may ask of the receiver.
type Limits struct {
	MaxLayerSize int64 // uncompressed size of the rebuilt tar; 0 = 64 GiB
	MaxOps       int   // 0 = 16 Mi operations
}

func (l Limits) layer() int64 {
	if l.MaxLayerSize <= 0 {
		return 64 << 30
	}
	return l.MaxLayerSize
}

func (l Limits) ops() int {
	if l.MaxOps <= 0 {
		return 16 << 20
	}
	return l.MaxOps
}

// Layer identifies a layer blob and its uncompressed tar.
type Layer struct {
	Digest    digest.Digest `json:"digest"`
	Size      int64         `json:"size"`
	MediaType string        `json:"mediaType,omitempty"`
	DiffID    digest.Digest `json:"diffID"`
	TarSize   int64         `json:"tarSize"` // uncompressed size
}

// Meta is the head of a recipe: what it rebuilds, how, and from what.
type Meta struct {
	Target  Layer   `json:"target"`
	Params  Params  `json:"params"`
	Bases   []Layer `json:"bases"`
	Ops     int     `json:"ops"`     // number of operations that follow
	Literal int64   `json:"literal"` // literal bytes carried
	Method  string  `json:"method,omitempty"`
}

// ErrMalformed is wrapped by every refusal of a recipe's structure.
var ErrMalformed = errors.New("malformed layer recipe")

func malformed(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, a...))
}

// Validate checks a recipe head against the limits: known digests, bounded sizes,
// allowed compressor, and no base that is the target itself (a recipe cycle).
func (m *Meta) Validate(lim Limits) error {
	if err := m.Target.Digest.Validate(); err != nil {
		return malformed("target digest: %v", err)
	}
	if err := m.Target.DiffID.Validate(); err != nil {
		return malformed("target diff ID: %v", err)
	}
	if m.Target.TarSize < 0 || m.Target.TarSize > lim.layer() {
		return malformed("target tar size %d outside 0..%d", m.Target.TarSize, lim.layer())
	}
	if m.Target.Size < 0 {
		return malformed("target size %d", m.Target.Size)
	}
	if m.Ops < 0 || m.Ops > lim.ops() {
		return malformed("%d operations, limit %d", m.Ops, lim.ops())
	}
	if m.Literal < 0 || m.Literal > m.Target.TarSize {
		return malformed("literal bytes %d outside 0..%d", m.Literal, m.Target.TarSize)
	}
	if err := m.Params.Validate(); err != nil {
		return err
	}
	if len(m.Bases) > maxBases {
		return malformed("%d base layers, limit %d", len(m.Bases), maxBases)
	}
	seen := map[digest.Digest]bool{}
	for i, b := range m.Bases {
		if err := b.Digest.Validate(); err != nil {
			return malformed("base %d digest: %v", i, err)
		}
		if err := b.DiffID.Validate(); err != nil {
			return malformed("base %d diff ID: %v", i, err)
		}
		if b.Digest == m.Target.Digest || b.DiffID == m.Target.DiffID {
			return malformed("base %d is the target layer itself (cyclic recipe)", i)
		}
		if seen[b.Digest] {
			return malformed("base %s listed twice", b.Digest)
		}
		seen[b.Digest] = true
		if b.TarSize < 0 || b.TarSize > lim.layer() {
			return malformed("base %d tar size %d", i, b.TarSize)
		}
	}
	return nil
}

// Op is one recipe operation: N literal bytes from the recipe, or N bytes of base Base's
// uncompressed tar at Offset.
type Op struct {
	Copy   bool
	Base   int
	Offset int64
	N      int64
}

const (
	opLiteral = 'L'
	opCopy    = 'C'
	opEnd     = 'E'
)

// Writer encodes a recipe. Ops must be added in output order; Close writes the end
// marker and flushes the compressed stream.
type Writer struct {
	zw      *zstd.Encoder
	bw      *bufio.Writer
	meta    Meta
	ops     int
	literal int64
	out     int64
	tmp     [binary.MaxVarintLen64]byte
}

// NewWriter starts a recipe with head m (whose Ops and Literal must already be the final
// counts: the reader checks them) on w.
func NewWriter(w io.Writer, m Meta) (*Writer, error) {
	mb, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if len(mb) > maxMetaSize {
		return nil, fmt.Errorf("recipe head of %d bytes exceeds %d", len(mb), maxMetaSize)
	}
	zw, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedBetterCompression), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return nil, err
	}
	rw := &Writer{zw: zw, bw: bufio.NewWriterSize(zw, 64<<10), meta: m}
	rw.bw.WriteString(magic)
	rw.uvarint(uint64(len(mb)))
	rw.bw.Write(mb)
	return rw, nil
}

func (w *Writer) uvarint(x uint64) {
	n := binary.PutUvarint(w.tmp[:], x)
	w.bw.Write(w.tmp[:n])
}

// Literal adds n bytes read from r.
func (w *Writer) Literal(r io.Reader, n int64) error {
	if n <= 0 {
		return nil
	}
	w.bw.WriteByte(opLiteral)
	w.uvarint(uint64(n))
	c, err := io.CopyN(w.bw, r, n)
	w.ops++
	w.literal += c
	w.out += c
	if err != nil {
		return fmt.Errorf("recipe literal: %w", err)
	}
	return nil
}

// Copy adds n bytes of base b at off.
func (w *Writer) Copy(b int, off, n int64) {
	if n <= 0 {
		return
	}
	w.bw.WriteByte(opCopy)
	w.uvarint(uint64(b))
	w.uvarint(uint64(off))
	w.uvarint(uint64(n))
	w.ops++
	w.out += n
}

// Close ends the recipe; it fails if the operations do not match the head.
func (w *Writer) Close() error {
	w.bw.WriteByte(opEnd)
	if err := w.bw.Flush(); err != nil {
		return err
	}
	if err := w.zw.Close(); err != nil {
		return err
	}
	if w.ops != w.meta.Ops || w.literal != w.meta.Literal || w.out != w.meta.Target.TarSize {
		return fmt.Errorf("recipe writer: wrote %d ops, %d literal bytes, %d output bytes; head says %d, %d, %d",
			w.ops, w.literal, w.out, w.meta.Ops, w.meta.Literal, w.meta.Target.TarSize)
	}
	return nil
}

// Reader decodes a recipe, checking each operation against its head and limits.
type Reader struct {
	Meta    Meta
	zr      *zstd.Decoder
	br      *bufio.Reader
	lim     Limits
	ops     int
	literal int64
	out     int64
	pending int64 // literal bytes of the current op not yet read
	done    bool
}

// NewReader reads and validates a recipe's head from r (the compressed recipe blob).
func NewReader(r io.Reader, lim Limits) (*Reader, error) {
	zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(32<<20), zstd.WithDecoderMaxMemory(64<<20))
	if err != nil {
		return nil, err
	}
	rd := &Reader{zr: zr, br: bufio.NewReaderSize(zr, 64<<10), lim: lim}
	if err := rd.readHead(); err != nil {
		zr.Close()
		return nil, err
	}
	return rd, nil
}

func (r *Reader) readHead() error {
	var mg [len(magic)]byte
	if _, err := io.ReadFull(r.br, mg[:]); err != nil {
		return malformed("reading magic: %v", err)
	}
	if string(mg[:]) != magic {
		return malformed("not a layer recipe (bad magic)")
	}
	n, err := binary.ReadUvarint(r.br)
	if err != nil {
		return malformed("head length: %v", err)
	}
	if n > maxMetaSize {
		return malformed("head of %d bytes exceeds %d", n, maxMetaSize)
	}
	mb := make([]byte, n)
	if _, err := io.ReadFull(r.br, mb); err != nil {
		return malformed("head: %v", err)
	}
	if err := json.Unmarshal(mb, &r.Meta); err != nil {
		return malformed("head: %v", err)
	}
	return r.Meta.Validate(r.lim)
}

// Close releases the decoder.
func (r *Reader) Close() { r.zr.Close() }

// Next returns the next operation, or io.EOF after the end marker once every count
// agreed with the head. For a literal op, read exactly N bytes with [Reader.Read]
// before calling Next again.
func (r *Reader) Next() (Op, error) {
	if r.done {
		return Op{}, io.EOF
	}
	if r.pending != 0 {
		return Op{}, malformed("literal not fully read")
	}
	kind, err := r.br.ReadByte()
	if err != nil {
		return Op{}, malformed("truncated after %d operations: %v", r.ops, err)
	}
	switch kind {
	case opEnd:
		if r.ops != r.Meta.Ops || r.literal != r.Meta.Literal || r.out != r.Meta.Target.TarSize {
			return Op{}, malformed("ends after %d ops, %d literal bytes, %d output bytes; head says %d, %d, %d",
				r.ops, r.literal, r.out, r.Meta.Ops, r.Meta.Literal, r.Meta.Target.TarSize)
		}
		if _, err := r.br.ReadByte(); err != io.EOF {
			return Op{}, malformed("data after the end marker")
		}
		r.done = true
		return Op{}, io.EOF
	case opLiteral, opCopy:
	default:
		return Op{}, malformed("unknown operation 0x%02x", kind)
	}
	r.ops++
	if r.ops > r.Meta.Ops {
		return Op{}, malformed("more operations than the %d the head declares", r.Meta.Ops)
	}
	var op Op
	if kind == opCopy {
		op.Copy = true
		b, err1 := binary.ReadUvarint(r.br)
		off, err2 := binary.ReadUvarint(r.br)
		n, err3 := binary.ReadUvarint(r.br)
		if err := errors.Join(err1, err2, err3); err != nil {
			return Op{}, malformed("copy operation: %v", err)
		}
		if b >= uint64(len(r.Meta.Bases)) {
			return Op{}, malformed("copy from base %d of %d", b, len(r.Meta.Bases))
		}
		base := r.Meta.Bases[b]
		if n == 0 || off > uint64(base.TarSize) || n > uint64(base.TarSize)-off {
			return Op{}, malformed("copy of %d bytes at %d outside base %s (%d bytes)", n, off, base.Digest, base.TarSize)
		}
		op.Base, op.Offset, op.N = int(b), int64(off), int64(n)
	} else {
		n, err := binary.ReadUvarint(r.br)
		if err != nil {
			return Op{}, malformed("literal operation: %v", err)
		}
		if n == 0 || n > uint64(r.Meta.Literal-r.literal) {
			return Op{}, malformed("literal of %d bytes exceeds the %d the head declares", n, r.Meta.Literal)
		}
		op.N = int64(n)
		r.literal += op.N
		r.pending = op.N
	}
	if op.N > r.Meta.Target.TarSize-r.out {
		return Op{}, malformed("operations produce more than the %d bytes the head declares", r.Meta.Target.TarSize)
	}
	r.out += op.N
	return op, nil
}

// Read reads the current literal operation's bytes.
func (r *Reader) Read(p []byte) (int, error) {
	if r.pending == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.pending {
		p = p[:r.pending]
	}
	n, err := r.br.Read(p)
	r.pending -= int64(n)
	if err == io.EOF && r.pending > 0 {
		err = malformed("truncated literal")
	}
	return n, err
}
