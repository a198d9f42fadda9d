// Package ingest is the receiving side of a nightly sync: it finds the complete bundles in
// an incoming directory (local, SFTP or FTP), orders them so that every base comes before
// the deltas built on it, and for each one verifies and loads it (signatures per the trust
// policy, every digest, verify-before-commit), then moves it to a done directory, or to a
// failed directory with a NAME.reason file beside it. A name already taken there becomes
// NAME-2.imgx, NAME-3.imgx, …: nothing there is ever replaced.
//
// It is idempotent: the store records every bundle it loaded (by manifest digest, in the
// same commit as the images), so a re-run after a crash skips what was loaded and finishes
// the rest. One ingest runs per store at a time.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/opencontainers/go-digest"

	"github.com/imgx/imgx/bundle"
	"github.com/imgx/imgx/imagepolicy"
	"github.com/imgx/imgx/intake"
	"github.com/imgx/imgx/internal/errcode"
	"github.com/imgx/imgx/progress"
	"github.com/imgx/imgx/seal"
	"github.com/imgx/imgx/store"
	"github.com/imgx/imgx/transport"
	"github.com/imgx/imgx/verify"
)

// ErrLocked is returned when another ingest holds the store's ingest lock.
var ErrLocked = errors.New("another ingest is running on this store")

// Options configure [Run].
type Options struct {
	Store  *store.Store
	Policy verify.Policy
	// Images is the image-signature policy each bundle's images must satisfy
	// (intake.Options.Images); nil checks none.
	Images *imagepolicy.Policy

	// Source holds the incoming bundles in Dir ("" for its root).
	Source transport.Backend
	Dir    string
	// DoneDir and FailedDir are directories on Source where processed bundles are moved.
	// An empty DoneDir leaves loaded bundles in place (unless Delete); an empty FailedDir
	// leaves failed ones in place and writes no reason file.
	DoneDir, FailedDir string
	// DoneName and FailedName are how the report names DoneDir and FailedDir (the
	// operator's spelling, e.g. the --done argument); default DoneDir and FailedDir.
	DoneName, FailedName string
	// Delete removes loaded bundles instead of moving them to DoneDir.
	Delete bool
	// Strict fails a delta whose base is not loaded instead of letting it wait.
	Strict bool
	// Suffix selects bundle files by name; default ".imgx".
	Suffix string

	// Progress, if set, is told about each bundle being loaded.
	Progress func(name string, done, total int64)
	// FreeSpace reports the bytes free in the store's filesystem; default statfs.
	FreeSpace func(dir string) (int64, error)
	// Identities decrypt encrypted bundles (package seal); one that none opens fails
	// with the reason.
	Identities []age.Identity
}

// Outcome of one bundle.
type Outcome string

const (
	Loaded  Outcome = "loaded"
	Skipped Outcome = "skipped" // loaded before (same manifest digest)
	Waiting Outcome = "waiting" // a delta whose base is not loaded yet
	Failed  Outcome = "failed"
)

// Item reports one bundle.
type Item struct {
	Name     string        `json:"name"`
	Outcome  Outcome       `json:"outcome"`
	Digest   digest.Digest `json:"digest,omitempty"`
	Sequence int           `json:"sequence"`
	Base     *Base         `json:"base,omitempty"` // the bundle a delta applies on
	Images   []string      `json:"images,omitempty"`
	Bytes    int64         `json:"bytes"`       // blob bytes written to the store
	Size     int64         `json:"bundle_size"` // size of the bundle file
	Signers  []string      `json:"signers,omitempty"`
	Verified bool          `json:"verified"`         // trusted signatures satisfying the policy covered it
	Reason   string        `json:"reason,omitempty"` // why it failed or waits
	Code     string        `json:"code,omitempty"`   // errcode of a failure: stable, for scripts
	MovedTo  string        `json:"moved_to,omitempty"`
	Warnings []string      `json:"warnings,omitempty"`
}

// Report is the result of one run.
type Report struct {
	Items   []Item `json:"bundles"` // never nil: an empty run reports []
	Loaded  int    `json:"loaded"`
	Skipped int    `json:"skipped"`
	Waiting int    `json:"waiting"`
	Failed  int    `json:"failed"`
	Bytes   int64  `json:"bytes"`
}

// Base names the bundle a delta applies on: structured, so scripts need not parse prose.
type Base struct {
	Name     string        `json:"name"` // file name hint the sender recorded ("" if none)
	Digest   digest.Digest `json:"digest"`
	Sequence int           `json:"sequence"`
}

// candidate is one bundle waiting to load. It keeps what ordering needs, not the parsed
// manifest: a carrier of many bundles whose manifests list thousands of tags would
// otherwise hold them all in memory at once; load reads the head again.
type candidate struct {
	info     transport.FileInfo
	name     string // path on Source
	digest   digest.Digest
	sequence int
	created  time.Time
	base     *bundle.BaseRef
	item     *Item
}

// Run processes every complete bundle in opts.Dir once. It returns an error wrapping
// ErrLocked if another ingest is running, and other errors only when it could not look at
// the directory at all; per-bundle failures are in the report.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if opts.Suffix == "" {
		opts.Suffix = ".imgx"
	}
	if opts.FreeSpace == nil {
		opts.FreeSpace = func(string) (int64, error) { return opts.Store.FreeSpace() }
	}
	// A policy that cannot be what the operator meant fails the run, not each bundle.
	if err := opts.Policy.Check(); err != nil {
		return nil, err
	}
	unlock, ok, err := opts.Store.TryLock("ingest")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("store %s: %w", opts.Store.Root(), ErrLocked)
	}
	defer unlock()

	var files []transport.FileInfo
	rep := &Report{Items: []Item{}}
	err = opts.Source.List(ctx, opts.Dir, func(fi transport.FileInfo) error {
		if fi.IsDir || !strings.HasSuffix(fi.Name, opts.Suffix) {
			return nil
		}
		// A name from the listing is the server's (or the carrier's) word: it becomes
		// a path only if it is one plain element. Otherwise it is reported, quoted,
		// and never moved, deleted or given a reason file.
		if err := transport.CheckEntryName(fi.Name); err != nil {
			rep.add(&Item{Name: strconv.Quote(fi.Name), Outcome: Failed, Size: fi.Size,
				Reason: fmt.Sprintf("listed by %s: %v", where(opts.Source, opts.Dir), err), Code: errcode.Of(err)})
			return nil
		}
		files = append(files, fi)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", where(opts.Source, opts.Dir), err)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })

	var pending []*candidate
	for _, fi := range files {
		c := &candidate{info: fi, name: path.Join(opts.Dir, fi.Name), item: &Item{Name: fi.Name, Size: fi.Size}}
		mb, m, sigs, err := readHead(ctx, opts.Source, c.name, opts.Identities)
		if err != nil {
			if ctx.Err() != nil {
				return rep, ctx.Err()
			}
			fail(ctx, opts, c, fmt.Errorf("read bundle head: %w", err))
			rep.add(c.item)
			continue
		}
		c.digest, c.sequence, c.created, c.base = digest.FromBytes(mb), m.Sequence, m.Created, m.Base
		c.item.Digest, c.item.Sequence = c.digest, m.Sequence
		if m.Base != nil {
			c.item.Base = &Base{Name: m.Base.Name, Digest: m.Base.Digest, Sequence: m.Base.Sequence}
		}
		// Nothing the manifest claims (already loaded, a base to wait for, the space it
		// needs) is acted on before the policy accepts its signatures: an unverified
		// bundle claiming a 1 PiB blob would otherwise wait every night, never failing.
		// Load checks the signatures again, with the blobs.
		if _, err := opts.Policy.Verify(mb, sigs); err != nil {
			fail(ctx, opts, c, fmt.Errorf("%w: %w", bundle.ErrSignature, err))
			rep.add(c.item)
			continue
		}
		// Names only once the policy accepted them: a refused head may list 18000 tags,
		// and the report keeps every item.
		for _, im := range m.Images {
			c.item.Images = append(c.item.Images, imageName(im))
		}
		if bundle.Loaded(opts.Store, c.digest) {
			c.item.Outcome = Skipped
			c.item.Reason = "already loaded"
			finish(ctx, opts, c)
			rep.add(c.item)
			continue
		}
		pending = append(pending, c)
	}

	// Bases first: a full bundle is ready; a delta is ready once its base is loaded.
	sort.SliceStable(pending, func(i, j int) bool {
		a, b := pending[i], pending[j]
		if a.sequence != b.sequence {
			return a.sequence < b.sequence
		}
		return a.created.Before(b.created)
	})
	for progress := true; progress && len(pending) > 0; {
		progress = false
		var next []*candidate
		for _, c := range pending {
			if err := ctx.Err(); err != nil {
				return rep, err
			}
			if b := c.base; b != nil && !bundle.Loaded(opts.Store, b.Digest) {
				next = append(next, c)
				continue
			}
			load(ctx, opts, c)
			rep.add(c.item)
			progress = true
		}
		pending = next
	}
	for _, c := range pending {
		b := c.base
		c.item.Reason = fmt.Sprintf("needs %s, which is not loaded", b)
		if failedHere(rep, b.Digest) {
			c.item.Reason += " (it failed in this run)"
		}
		if opts.Strict {
			fail(ctx, opts, c, errors.New(c.item.Reason))
			c.item.Code = errcode.MissingBase
		} else {
			c.item.Outcome = Waiting
		}
		rep.add(c.item)
	}
	return rep, ctx.Err()
}

func load(ctx context.Context, opts Options, c *candidate) {
	// The head again (see candidate): the same bundle only, or the file changed under us.
	mb, m, _, err := readHead(ctx, opts.Source, c.name, opts.Identities)
	if err == nil && digest.FromBytes(mb) != c.digest {
		err = fmt.Errorf("the bundle changed while ingest ran (manifest %s, was %s)", digest.FromBytes(mb), c.digest)
	}
	if err != nil {
		if ctx.Err() == nil {
			fail(ctx, opts, c, fmt.Errorf("read bundle head: %w", err))
		}
		return
	}
	need := int64(0)
	for _, b := range m.Blobs {
		if !opts.Store.Has(b.Digest) {
			need += b.Size
		}
	}
	if free, err := opts.FreeSpace(opts.Store.Root()); err == nil && free < need+need/20 {
		// Not the bundle's fault: it waits for space rather than being quarantined.
		c.item.Outcome = Waiting
		c.item.Reason = fmt.Sprintf("store needs %s, %s free", progress.Size(need), progress.Size(free))
		return
	}
	rc, err := opts.Source.Open(ctx, c.name, 0)
	if err != nil {
		if ctx.Err() == nil {
			fail(ctx, opts, c, err)
		}
		return
	}
	defer rc.Close()
	var prog progress.Progress
	if opts.Progress != nil {
		prog = progress.Func(func(done, total int64) { opts.Progress(c.info.Name, done, total) })
	}
	// Through the trust gate, as load and verify: bundles only, whatever the file name.
	in, err := intake.Load(ctx, opts.Store, intake.Input{Name: c.info.Name, R: rc}, intake.Options{Policy: opts.Policy, Images: opts.Images, BundlesOnly: true, Progress: prog, Identities: opts.Identities})
	if err != nil {
		if ctx.Err() != nil {
			c.item.Outcome = Waiting
			c.item.Reason = "interrupted"
			return
		}
		fail(ctx, opts, c, err)
		return
	}
	res := in.Bundle
	c.item.Outcome = Loaded
	c.item.Bytes = res.BytesWritten
	c.item.Signers = in.TrustedBy
	c.item.Verified = in.Verified
	c.item.Warnings = append(c.item.Warnings, in.Warnings...)
	finish(ctx, opts, c)
}

// finish moves a loaded (or already loaded) bundle out of the incoming directory.
func finish(ctx context.Context, opts Options, c *candidate) {
	switch {
	case opts.Delete:
		if err := opts.Source.Remove(ctx, c.name); err != nil && !opts.Source.IsNotExist(err) {
			c.item.Warnings = append(c.item.Warnings, "remove: "+err.Error())
		} else {
			c.item.MovedTo = "(deleted)"
		}
	case opts.DoneDir != "":
		dst, err := moveAside(ctx, opts.Source, c.name, opts.DoneDir, c.info.Name, opts.Suffix)
		if err != nil {
			c.item.Warnings = append(c.item.Warnings, "move to done: "+err.Error())
		} else {
			c.item.MovedTo = display(opts.DoneName, opts.DoneDir, dst)
		}
	}
}

// fail marks a bundle failed and quarantines it with a reason file.
func fail(ctx context.Context, opts Options, c *candidate, cause error) {
	c.item.Outcome = Failed
	c.item.Reason = cause.Error()
	c.item.Code = errcode.Of(cause)
	if opts.FailedDir == "" {
		return
	}
	dst, err := moveAside(ctx, opts.Source, c.name, opts.FailedDir, c.info.Name, opts.Suffix)
	if err != nil {
		c.item.Warnings = append(c.item.Warnings, "move to failed: "+err.Error())
		return
	}
	c.item.MovedTo = display(opts.FailedName, opts.FailedDir, dst)
	text := fmt.Sprintf("bundle: %s\nfailed: %s\nreason: %s\n", c.info.Name, time.Now().UTC().Format(time.RFC3339), cause)
	if c.digest != "" {
		text += fmt.Sprintf("manifest: %s\nsequence: %d\n", c.digest, c.sequence)
	}
	if err := writeFile(ctx, opts.Source, path.Join(opts.FailedDir, dst+reasonSuffix), []byte(text)); err != nil {
		c.item.Warnings = append(c.item.Warnings, "write reason: "+err.Error())
	}
}

// reasonSuffix names the file beside a failed bundle that says why it failed.
const reasonSuffix = ".reason"

// maxSlots bounds the numbered names tried for one bundle (NAME-2.imgx … NAME-999.imgx).
const maxSlots = 999

// moveAside moves src into dir under its own name base; if that name is taken (the same
// name failed or loaded before), under NAME-2.imgx, NAME-3.imgx, … (before suffix, so the
// file still matches *.imgx). A name counts as taken when the bundle or its reason file
// exists: a reason left without its bundle keeps its slot. The backend's rename never
// replaces, so a name taken meanwhile moves on to the next. It returns the base name used.
func moveAside(ctx context.Context, b transport.Backend, src, dir, base, suffix string) (string, error) {
	stem := strings.TrimSuffix(base, suffix)
	for i := 1; i <= maxSlots; i++ {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		name := base
		if i > 1 {
			name = fmt.Sprintf("%s-%d%s", stem, i, suffix)
		}
		dst := path.Join(dir, name)
		if taken(ctx, b, dst) || taken(ctx, b, dst+reasonSuffix) {
			continue
		}
		err := b.Rename(ctx, src, dst)
		if err == nil {
			return name, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", err
		}
	}
	return "", fmt.Errorf("%s: %s and %d numbered names after it are taken: %w", where(b, dir), base, maxSlots-1, fs.ErrExist)
}

// taken reports whether name exists or cannot be ruled out (a link, a special file, a
// damaged volume set: never a destination).
func taken(ctx context.Context, b transport.Backend, name string) bool {
	_, err := b.Stat(ctx, name)
	return err == nil || !b.IsNotExist(err)
}

// display is name in dir as the caller spells dir (label), for the report.
func display(label, dir, name string) string {
	if label == "" {
		label = dir
	}
	return strings.TrimSuffix(label, "/") + "/" + name
}

func writeFile(ctx context.Context, b transport.Backend, name string, data []byte) error {
	up, err := b.Create(ctx, name)
	if err != nil {
		return err
	}
	if err := up.Truncate(ctx, 0); err != nil {
		up.Discard(ctx)
		return err
	}
	if _, err := up.Write(data); err != nil {
		up.Discard(ctx)
		return err
	}
	return up.Commit(ctx)
}

func readHead(ctx context.Context, b transport.Backend, name string, ids []age.Identity) ([]byte, *bundle.Manifest, [][]byte, error) {
	rc, err := b.Open(ctx, name, 0)
	if err != nil {
		return nil, nil, nil, err
	}
	defer rc.Close()
	r, _, err := seal.MaybeOpen(rc, ids)
	if err != nil {
		return nil, nil, nil, err
	}
	h, err := bundle.ReadHead(ctx, io.LimitReader(r, 64<<20))
	if err != nil {
		return nil, nil, nil, err
	}
	return h.ManifestBytes, h.Manifest, h.Signatures, nil
}

func (r *Report) add(it *Item) {
	r.Items = append(r.Items, *it)
	switch it.Outcome {
	case Loaded:
		r.Loaded++
		r.Bytes += it.Bytes
	case Skipped:
		r.Skipped++
	case Waiting:
		r.Waiting++
	case Failed:
		r.Failed++
	}
}

func failedHere(r *Report, d digest.Digest) bool {
	for _, it := range r.Items {
		if it.Digest == d && it.Outcome == Failed {
			return true
		}
	}
	return false
}

// imageName is the tag the load applies (never a display name of the bundle's choosing),
// or the digest of an untagged image.
func imageName(im bundle.Image) string {
	if t := im.Tag(); t != "" {
		return t
	}
	return im.Descriptor.Digest.String()
}

func where(b transport.Backend, dir string) string {
	if dir == "" {
		return b.Location()
	}
	return strings.TrimSuffix(b.Location(), "/") + "/" + dir
}
