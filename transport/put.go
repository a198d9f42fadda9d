package transport

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"path"

	"github.com/imgx/imgx/progress"
)

// DefaultCheckpointInterval is the distance between two prefix hashes in
// the resume state. Resume verification holds one interval in memory.
const DefaultCheckpointInterval = 8 << 20

// PutOptions tunes [Put]. The zero value is ready to use.
type PutOptions struct {
	// NoOverwrite refuses (fs.ErrExist) when name already exists.
	NoOverwrite bool
	// NoResume discards a partial upload instead of resuming it.
	NoResume bool
	// Size, when known (> 0), is checked against the free space of
	// backends that report it, before anything is written.
	Size int64
	// Progress receives the bytes taken from src, resumed ones included.
	Progress progress.Progress
	// CheckpointInterval overrides DefaultCheckpointInterval (tests).
	CheckpointInterval int64
	// SaveEvery is how many intervals pass between two saves of the resume
	// state; 0 means 8 (64 MiB with the default interval).
	SaveEvery int
}

// PutResult describes a finished upload.
type PutResult struct {
	Size    int64  // bytes in the published file
	Resumed int64  // bytes taken from an earlier, interrupted upload
	SHA256  string // hex sha256 of the whole file, computed while streaming
}

// resumeState is stored beside a partial upload. Sums[i] is the sha256 of
// the first (i+1)*Interval bytes; Hash is the marshalled sha256 state after
// the last of them, a second check that also lets a later version carry the
// whole-file hash across a resume.
type resumeState struct {
	Version  int      `json:"version"`
	Interval int64    `json:"interval"`
	Sums     [][]byte `json:"sums"`
	Hash     []byte   `json:"sha256_state"`
}

// Put uploads src to name and publishes it atomically. src is read exactly
// once, front to back. If an earlier Put of the same name was interrupted,
// the prefix it uploaded is checked against src by hash (nothing is
// downloaded) and kept as far as it matches: src's first bytes are read and
// skipped, and the upload goes on where the two diverge or where the
// earlier one stopped. On any error, cancellation included, the partial
// upload is kept for the next run.
func Put(ctx context.Context, b Backend, name string, src io.Reader, opts PutOptions) (PutResult, error) {
	if err := CheckName(name); err != nil {
		return PutResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return PutResult{}, fmt.Errorf("put %s: %w", name, err)
	}
	interval := opts.CheckpointInterval
	if interval <= 0 {
		interval = DefaultCheckpointInterval
	}
	saveEvery := opts.SaveEvery
	if saveEvery <= 0 {
		saveEvery = 8
	}
	prog := progress.OrNoop(opts.Progress)
	defer prog.Done()
	if opts.Size > 0 {
		prog.SetTotal(opts.Size)
	}
	if opts.NoOverwrite {
		if _, err := b.Stat(ctx, name); err == nil {
			return PutResult{}, Permanent(fmt.Errorf("put %s: %w", name, errExist))
		} else if !b.IsNotExist(err) {
			return PutResult{}, fmt.Errorf("put %s: %w", name, err)
		}
	}
	u, err := b.Create(ctx, name)
	if err != nil {
		return PutResult{}, fmt.Errorf("put %s: %w", name, err)
	}
	p := &putter{ctx: ctx, u: u, src: src, interval: interval, saveEvery: saveEvery, prog: prog,
		h: sha256.New(), buf: make([]byte, interval)}
	res, err := p.run(b, name, opts)
	if err != nil {
		_ = u.Abort(context.WithoutCancel(ctx))
		return res, fmt.Errorf("put %s: %w", name, err)
	}
	return res, nil
}

// HashedReader is a source whose sha256 its producer computes once for several uploads
// of the same bytes (dial.WriteMany writing one bundle to many sticks). [Put] then takes
// the hash states from it instead of hashing again what it writes: the whole-file sum and
// the checkpoint sums of the resume state are the same, computed once. The bytes of the
// partial upload a Put resumes from are still hashed or compared by that Put itself, and
// a read back (dial.ReadBack) still hashes what each destination holds.
type HashedReader interface {
	io.Reader
	// HashInterval is the distance between two states it keeps; Put uses the reader's
	// states only when it equals its own checkpoint interval.
	HashInterval() int64
	// SHA256State returns the marshalled state (encoding.BinaryMarshaler of
	// crypto/sha256) after the first n bytes of the stream. It fails unless exactly n
	// bytes have been read from this reader and n is a multiple of HashInterval or the
	// end of the stream.
	SHA256State(n int64) ([]byte, error)
}

type putter struct {
	ctx       context.Context
	u         Upload
	src       io.Reader
	shared    HashedReader // set when src hashes for us: p.h is set from it at checkpoints
	interval  int64
	saveEvery int
	prog      progress.Progress
	h         hash.Hash
	buf       []byte
	pos       int64
	st        resumeState
}

func (p *putter) run(b Backend, name string, opts PutOptions) (PutResult, error) {
	pending, err := p.resume(opts.NoResume)
	if err != nil {
		return PutResult{}, err
	}
	// What resume kept was hashed or compared here; what is written from now on is
	// exactly the shared stream from p.pos, whose hash its producer has.
	if hr, ok := p.src.(HashedReader); ok && hr.HashInterval() == p.interval {
		p.shared = hr
	}
	resumed := p.pos
	if opts.Size > 0 {
		if err := CheckSpace(p.ctx, b, name, opts.Size-resumed); err != nil {
			return PutResult{}, err
		}
	}
	if len(pending) > 0 {
		if err := p.write(pending); err != nil {
			return PutResult{}, err
		}
	}
	for {
		if err := p.ctx.Err(); err != nil {
			return PutResult{}, err
		}
		// Read up to the next checkpoint so sums land on exact multiples.
		want := p.interval - p.pos%p.interval
		n, rerr := io.ReadFull(p.src, p.buf[:want])
		if n > 0 {
			if err := p.write(p.buf[:n]); err != nil {
				return PutResult{}, err
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return PutResult{}, fmt.Errorf("read source at byte %d: %w", p.pos, rerr)
		}
	}
	if err := p.syncHash(); err != nil {
		return PutResult{}, err
	}
	if err := p.u.Commit(p.ctx); err != nil {
		return PutResult{}, err
	}
	return PutResult{Size: p.pos, Resumed: resumed, SHA256: hex.EncodeToString(p.h.Sum(nil))}, nil
}

// write sends data to the upload, hashing it and saving the resume state at
// checkpoints. data never crosses a checkpoint boundary.
func (p *putter) write(data []byte) error {
	if _, err := p.u.Write(data); err != nil {
		return err
	}
	if p.shared == nil {
		p.h.Write(data)
	}
	p.pos += int64(len(data))
	p.prog.Add(int64(len(data)))
	if p.pos%p.interval != 0 {
		return nil
	}
	if err := p.syncHash(); err != nil {
		return err
	}
	p.st.Sums = append(p.st.Sums, p.h.Sum(nil))
	if len(p.st.Sums)%p.saveEvery != 0 {
		return nil
	}
	state, err := p.h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return err
	}
	p.st.Version, p.st.Interval, p.st.Hash = 1, p.interval, state
	js, err := json.Marshal(&p.st)
	if err != nil {
		return err
	}
	return p.u.Checkpoint(p.ctx, js)
}

// syncHash brings p.h to p.pos from the shared source, if any: its state after the
// bytes written, which this putter did not hash itself.
func (p *putter) syncHash() error {
	if p.shared == nil {
		return nil
	}
	state, err := p.shared.SHA256State(p.pos)
	if err != nil {
		return fmt.Errorf("shared sha256 at byte %d: %w", p.pos, err)
	}
	if err := p.h.(encoding.BinaryUnmarshaler).UnmarshalBinary(state); err != nil {
		return fmt.Errorf("shared sha256 at byte %d: %w", p.pos, err)
	}
	return nil
}

// resume compares src with the partial upload, consumes the matching
// prefix and truncates the upload after it. It returns bytes already read
// from src that still have to be written.
func (p *putter) resume(noResume bool) ([]byte, error) {
	off := p.u.Offset()
	var st resumeState
	usable := false
	if off > 0 && !noResume && p.u.State() != nil {
		if err := json.Unmarshal(p.u.State(), &st); err == nil && st.Version == 1 && st.Interval == p.interval {
			usable = true
		}
	}
	pr, readable := p.u.(PartialReader)
	if !usable {
		if off > 0 && !noResume && readable {
			// No saved checkpoint (an upload killed before its first one, or a
			// state lost with the stick): the partial file itself is compared.
			return p.resumeByComparison(pr, off)
		}
		if off > 0 {
			if err := p.u.Truncate(p.ctx, 0); err != nil {
				return nil, err
			}
		}
		return nil, nil
	}
	// Checkpoints past the end of the temporary file are unusable: the
	// state may run ahead of data that was still in flight when cut.
	k := min(int64(len(st.Sums)), off/p.interval)
	var pending []byte
	for i := int64(0); i < k; i++ {
		if err := p.ctx.Err(); err != nil {
			return nil, err
		}
		before, err := p.h.(encoding.BinaryMarshaler).MarshalBinary()
		if err != nil {
			return nil, err
		}
		n, err := io.ReadFull(p.src, p.buf)
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("read source at byte %d: %w", i*p.interval+int64(n), err)
		}
		p.h.Write(p.buf[:n])
		if int64(n) < p.interval || !bytes.Equal(p.h.Sum(nil), st.Sums[i]) {
			// Diverged inside this interval: go back to the hash of
			// the matching prefix and rewrite from there.
			if err := p.h.(encoding.BinaryUnmarshaler).UnmarshalBinary(before); err != nil {
				return nil, err
			}
			pending = p.buf[:n]
			break
		}
		p.st.Sums = append(p.st.Sums, st.Sums[i])
		p.pos += int64(n)
		p.prog.Add(int64(n))
	}
	if pending == nil && k == int64(len(st.Sums)) && st.Hash != nil {
		state, _ := p.h.(encoding.BinaryMarshaler).MarshalBinary()
		if !bytes.Equal(state, st.Hash) {
			return nil, fmt.Errorf("%w: hash state disagrees with checkpoint sums", ErrResumeState)
		}
	}
	if pending == nil && readable && p.pos < off && p.pos == k*p.interval {
		// The checkpoints matched; what was written after the last one is
		// compared byte for byte instead of written again.
		return p.resumeByComparison(pr, off)
	}
	if p.pos != off {
		if err := p.u.Truncate(p.ctx, p.pos); err != nil {
			return nil, err
		}
	}
	return pending, nil
}

// PartialReader is implemented by uploads whose temporary file can be read back cheaply
// (local files and USB sticks). [Put] then resumes past the last saved checkpoint by
// comparing what the interrupted upload left with the regenerated source, so a SIGKILL
// or a pulled stick costs only the bytes that never reached the file, not up to
// SaveEvery intervals.
type PartialReader interface {
	// ReadPartialAt reads the temporary file at off, like io.ReaderAt.
	ReadPartialAt(p []byte, off int64) (int, error)
}

// resumeByComparison keeps the longest prefix of the partial upload, from p.pos up to
// off, that equals src byte for byte, truncates the upload after it and returns the
// bytes read from src that still have to be written. Nothing from the partial file is
// trusted: a byte is kept only because src has the same byte at the same offset.
func (p *putter) resumeByComparison(pr PartialReader, off int64) ([]byte, error) {
	theirs := make([]byte, p.interval)
	var pending []byte
	for p.pos < off {
		if err := p.ctx.Err(); err != nil {
			return nil, err
		}
		// Stop at checkpoints so the sums land on exact multiples, as in run.
		want := min(p.interval-p.pos%p.interval, off-p.pos)
		n, err := io.ReadFull(p.src, p.buf[:want])
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("read source at byte %d: %w", p.pos+int64(n), err)
		}
		m, rerr := pr.ReadPartialAt(theirs[:n], p.pos)
		if rerr != nil && rerr != io.EOF {
			return nil, fmt.Errorf("read back the partial upload at byte %d: %w", p.pos, rerr)
		}
		same := 0
		for same < m && p.buf[same] == theirs[same] {
			same++
		}
		p.h.Write(p.buf[:same])
		p.pos += int64(same)
		p.prog.Add(int64(same))
		if p.pos%p.interval == 0 && same > 0 {
			p.st.Sums = append(p.st.Sums, p.h.Sum(nil))
		}
		if same < n {
			pending = p.buf[same:n]
			break
		}
		if int64(n) < want {
			break // src ended inside the partial upload: the rest is not ours
		}
	}
	if p.pos != off {
		if err := p.u.Truncate(p.ctx, p.pos); err != nil {
			return nil, err
		}
	}
	return pending, nil
}

// CheckSpace fails with a permanent *InsufficientSpaceError when b reports less free space
// beside name than need bytes. Backends that cannot tell, and errors asking, pass.
func CheckSpace(ctx context.Context, b Backend, name string, need int64) error {
	sr, ok := b.(SpaceReporter)
	if !ok {
		if u, isWrapper := b.(Unwrapper); isWrapper {
			return CheckSpace(ctx, u.Unwrap(), name, need)
		}
		return nil
	}
	dir := path.Dir(name)
	if dir == "." {
		dir = ""
	}
	free, err := sr.FreeSpace(ctx, dir)
	if err != nil || free >= need {
		return nil // an unknown free space is no reason to refuse
	}
	return Permanent(&InsufficientSpaceError{Where: b.Location(), Need: need, Free: free})
}
