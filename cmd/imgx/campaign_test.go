package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/imgx/imgx/internal/testserver"
	"github.com/imgx/imgx/internal/testutil"
	"github.com/imgx/imgx/store"
)

// SIGKILL campaigns: each command that writes to the store or to a destination is killed
// at seeded random points (byte offsets of its input, or time points of its run, with its
// input throttled so the points spread over the transfer). After every kill `imgx check`
// must report no problem, and a re-run must complete with the digests of an uninterrupted
// run and reuse what the killed run had verified, counted exactly (bytes the re-run did
// not write, blobs it did not fetch, bytes it resumed). A failure names its seed:
// IMGX_CAMPAIGN_SEED=N replays it.

// campaignPoints is the number of kills per campaign: 20, or 3 under -short.
func campaignPoints() int {
	if testing.Short() {
		return 3
	}
	return 20
}

// imgxBin returns a path that runs this test binary as imgx (TestMain dispatches on the
// name, as testscript does), so the campaigns need no separate go build.
func imgxBin(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "imgx")
	if err := os.Symlink(exe, bin); err != nil {
		t.Fatal(err)
	}
	return bin
}

// campaign drives one command through its kill points.
type campaign struct {
	t      *testing.T
	name   string
	bin    string
	env    []string
	rng    *rand.Rand
	seed   int64
	points int

	// killWhen, when set, replaces kill's delay: the run is killed as soon as it
	// returns true (polled every 200µs), so kills land where a condition says (a byte
	// offset of the output) rather than at a time point.
	killWhen func() bool

	kills, endedFirst int   // kills sent; runs that had ended before their kill
	reusedBlobs       int   // blobs the re-runs found verified and did not write or fetch
	reusedBytes       int64 // their bytes, or bytes resumed
}

func newCampaign(t *testing.T, name string) *campaign {
	t.Helper()
	seed := time.Now().UnixNano()
	if s := os.Getenv("IMGX_CAMPAIGN_SEED"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("IMGX_CAMPAIGN_SEED=%q: %v", s, err)
		}
		seed = v
	}
	c := &campaign{t: t, name: name, bin: imgxBin(t), rng: rand.New(rand.NewSource(seed)), seed: seed, points: campaignPoints(),
		env: append(os.Environ(), "IMGX_PASSWORD=campaign", "SSH_AUTH_SOCK=")}
	t.Logf("%s: seed %d (replay: IMGX_CAMPAIGN_SEED=%d go test ./cmd/imgx -run '^%s$')", name, seed, seed, t.Name())
	return c
}

// report logs the campaign's counts, for the record.
func (c *campaign) report() {
	c.t.Logf("%s: %d points: %d SIGKILLs (%d runs had ended first), re-runs reused %d verified blobs / %d bytes",
		c.name, c.points, c.kills, c.endedFirst, c.reusedBlobs, c.reusedBytes)
}

// run runs imgx to completion and returns its standard output; a failure fails the test.
func (c *campaign) run(stdin []byte, args ...string) string {
	c.t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Env = c.env
	if stdin != nil {
		cmd.Stdin = strings.NewReader(string(stdin))
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		c.t.Fatalf("%s (seed %d): imgx %s: %v\n%s%s", c.name, c.seed, strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// runJSON is run, decoding standard output into v.
func (c *campaign) runJSON(v any, stdin []byte, args ...string) {
	c.t.Helper()
	out := c.run(stdin, args...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		c.t.Fatalf("%s: imgx %s: decoding %q: %v", c.name, strings.Join(args, " "), out, err)
	}
}

// kill starts imgx and SIGKILLs it. With stdin, it first writes stdin[:offset] into the
// command's standard input (a pipe, so the write returns only once imgx has read all but
// a pipe buffer of it), closing the pipe when offset is the whole input; then it waits
// delay and kills. It reports whether the command had ended before the kill.
func (c *campaign) kill(stdin []byte, offset int64, delay time.Duration, args ...string) (ended bool) {
	c.t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Env = c.env
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	var w io.WriteCloser
	if stdin != nil {
		var err error
		if w, err = cmd.StdinPipe(); err != nil {
			c.t.Fatal(err)
		}
	}
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	done := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(done) }()
	if w != nil {
		wrote := make(chan struct{})
		go func() {
			w.Write(stdin[:offset]) // an error means imgx stopped reading: it ended
			if offset == int64(len(stdin)) {
				w.Close()
			}
			close(wrote)
		}()
		select {
		case <-wrote:
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			c.t.Fatalf("%s: imgx %s stopped reading its input at offset < %d", c.name, strings.Join(args, " "), offset)
		}
	}
	trigger := time.After(delay)
	if c.killWhen != nil {
		fired := make(chan time.Time)
		go func() {
			for !c.killWhen() {
				select {
				case <-done:
					return
				case <-time.After(200 * time.Microsecond):
				}
			}
			close(fired)
		}()
		trigger = fired
	}
	select {
	case <-done:
		ended = true
	case <-trigger:
		cmd.Process.Kill()
		<-done
		c.kills++
	}
	if w != nil {
		w.Close()
	}
	if ended {
		c.endedFirst++
		if waitErr != nil {
			// Not killed, so it failed by itself on a well-formed input: a defect.
			c.t.Fatalf("%s: imgx %s failed before its kill: %v\n%s", c.name, strings.Join(args, " "), waitErr, out.String())
		}
	}
	return ended
}

// check runs `imgx check` on store and requires it to pass with no problem.
func (c *campaign) check(store, point string) {
	c.t.Helper()
	if _, err := os.Stat(filepath.Join(store, "oci-layout")); os.IsNotExist(err) {
		// Killed before it created the store: then nothing may be in it.
		if n := len(present(c.t, store)); n > 0 {
			c.t.Fatalf("%s (seed %d) %s: no store at %s, yet %d blobs", c.name, c.seed, point, store, n)
		}
		return
	}
	cmd := exec.Command(c.bin, "--store", store, "check")
	cmd.Env = c.env
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), " 0 problems") {
		c.t.Fatalf("%s (seed %d) %s: imgx check after the kill: %v\n%s", c.name, c.seed, point, err, out)
	}
}

// present lists the blobs a store holds, committed or staged (verified by an earlier run),
// with their sizes.
func present(t *testing.T, store string) map[string]int64 {
	t.Helper()
	m := map[string]int64{}
	for _, dir := range []string{"blobs/sha256", ".imgx/staged/sha256"} {
		ents, err := os.ReadDir(filepath.Join(store, dir))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for _, e := range ents {
			if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() {
				m["sha256:"+e.Name()] = fi.Size()
			}
		}
	}
	return m
}

func sum(m map[string]int64) (n int64) {
	for _, v := range m {
		n += v
	}
	return n
}

// tagDigests maps each tag of a store to its manifest digest (read in-process: one
// process fewer per kill point).
func (c *campaign) tagDigests(dir string) map[string]string {
	c.t.Helper()
	ents, err := openStore(c.t, dir).Entries()
	if err != nil {
		c.t.Fatalf("%s: %v", c.name, err)
	}
	m := map[string]string{}
	for _, e := range ents {
		m[e.Display()] = e.Desc.Digest.String()
	}
	return m
}

func openStore(t *testing.T, dir string) *store.Store {
	t.Helper()
	s, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// campaignSender is a store with a few small multi-layer images, a signing key, and the
// images' names.
type campaignSender struct {
	dir, store, key, pub string
	images               []string
}

// newCampaignSender writes n images of layers × layerSize random bytes (about
// n·layers·layerSize in all), and a key pair when sign is set.
func newCampaignSender(t *testing.T, c *campaign, n, layers, layerSize int, sign bool) *campaignSender {
	t.Helper()
	dir := t.TempDir()
	s := &campaignSender{dir: dir, store: filepath.Join(dir, "sender"), key: filepath.Join(dir, "k.key"), pub: filepath.Join(dir, "k.pub")}
	st := openStore(t, s.store)
	for i := 0; i < n; i++ {
		var ls [][]tarFile
		for j := 0; j < layers; j++ {
			ls = append(ls, randomLayer(t, int64(100*i+j+1), layerSize))
		}
		name := fmt.Sprintf("app%d:1", i)
		if err := writeLayered(st, name, ls...); err != nil {
			t.Fatal(err)
		}
		s.images = append(s.images, name)
	}
	if sign {
		c.run(nil, "--store", s.store, "keygen", "--output-prefix", filepath.Join(dir, "k"))
	}
	return s
}

// TestCampaignBundleLoad kills `imgx load` of a signed bundle read from a pipe at random
// byte offsets (and after the end of its input, in the commit).
func TestCampaignBundleLoad(t *testing.T) {
	c := newCampaign(t, "bundle load")
	snd := newCampaignSender(t, c, 3, 3, 256<<10, true)
	bundlePath := filepath.Join(snd.dir, "b.imgx")
	c.run(nil, append([]string{"--store", snd.store, "save", "--sign-key", snd.key, "-o", bundlePath}, snd.images...)...)
	data, err := os.ReadFile(bundlePath)
	if err != nil {
		t.Fatal(err)
	}
	type loadResult struct {
		BlobsWritten int   `json:"blobs_written"`
		BlobsSkipped int   `json:"blobs_skipped"`
		BytesWritten int64 `json:"bytes_written"`
	}
	load := func(store string) []string {
		return []string{"--store", store, "load", "--key", snd.pub, "--progress", "none", "--json", "-i", "-"}
	}
	ref := filepath.Join(t.TempDir(), "ref")
	var full loadResult
	c.runJSON(&full, data, load(ref)...)
	want := c.tagDigests(snd.store)
	if got := c.tagDigests(ref); !sameMap(got, want) {
		t.Fatalf("an uninterrupted load gave %v, the sender has %v", got, want)
	}
	for i := 0; i < c.points; i++ {
		st := filepath.Join(t.TempDir(), "store")
		off := min(int64(len(data)), c.rng.Int63n(int64(len(data))*5/4+1))
		delay := time.Duration(c.rng.Int63n(int64(30 * time.Millisecond)))
		point := fmt.Sprintf("point %d (offset %d of %d, then %v)", i, off, len(data), delay.Round(time.Millisecond))
		c.kill(data, off, delay, load(st)...)
		c.check(st, point)
		had := present(t, st)
		var res loadResult
		c.runJSON(&res, data, load(st)...)
		if got := c.tagDigests(st); !sameMap(got, want) {
			t.Fatalf("%s: the re-run gave %v, want %v", point, got, want)
		}
		// Every blob the killed run verified (staged, or committed) is reused, none written again.
		if res.BytesWritten != full.BytesWritten-sum(had) || res.BlobsSkipped != len(had) {
			t.Fatalf("%s (seed %d): %d blobs (%d bytes) were verified before the kill, but the re-run skipped %d and wrote %d of %d bytes",
				point, c.seed, len(had), sum(had), res.BlobsSkipped, res.BytesWritten, full.BytesWritten)
		}
		c.reusedBlobs += len(had)
		c.reusedBytes += sum(had)
	}
	c.report()
	if c.points >= 10 && c.reusedBlobs == 0 {
		t.Errorf("no kill left a verified blob: the campaign did not exercise resume")
	}
}

// TestCampaignArchiveLoad kills `imgx load` of a docker-archive read from a pipe at
// random byte offsets.
func TestCampaignArchiveLoad(t *testing.T) {
	c := newCampaign(t, "docker-archive load")
	snd := newCampaignSender(t, c, 3, 3, 256<<10, false)
	tarPath := filepath.Join(snd.dir, "images.tar")
	c.run(nil, append([]string{"--store", snd.store, "save", "--format", "docker-archive", "-o", tarPath}, snd.images...)...)
	data, err := os.ReadFile(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	type archiveResult struct {
		BytesWritten int64 `json:"bytes_written"`
	}
	load := func(store string) []string {
		return []string{"--store", store, "load", "--progress", "none", "--json", "-i", "-"}
	}
	ref := filepath.Join(t.TempDir(), "ref")
	var full archiveResult
	c.runJSON(&full, data, load(ref)...)
	want := c.tagDigests(ref)
	if len(want) != len(snd.images) {
		t.Fatalf("an uninterrupted load gave %v, want %d images", want, len(snd.images))
	}
	for i := 0; i < c.points; i++ {
		st := filepath.Join(t.TempDir(), "store")
		off := min(int64(len(data)), c.rng.Int63n(int64(len(data))*5/4+1))
		delay := time.Duration(c.rng.Int63n(int64(30 * time.Millisecond)))
		point := fmt.Sprintf("point %d (offset %d of %d, then %v)", i, off, len(data), delay.Round(time.Millisecond))
		c.kill(data, off, delay, load(st)...)
		c.check(st, point)
		had := present(t, st)
		var res archiveResult
		c.runJSON(&res, data, load(st)...)
		if got := c.tagDigests(st); !sameMap(got, want) {
			t.Fatalf("%s: the re-run gave %v, want %v", point, got, want)
		}
		if res.BytesWritten != full.BytesWritten-sum(had) {
			t.Fatalf("%s (seed %d): %d blobs (%d bytes) were verified before the kill, but the re-run wrote %d of %d bytes",
				point, c.seed, len(had), sum(had), res.BytesWritten, full.BytesWritten)
		}
		c.reusedBlobs += len(had)
		c.reusedBytes += sum(had)
	}
	c.report()
	if c.points >= 10 && c.reusedBlobs == 0 {
		t.Errorf("no kill left a verified blob: the campaign did not exercise resume")
	}
}

// sha256File is the hex sha256 of a file.
func sha256File(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// TestCampaignIngest kills `imgx ingest` of a directory of signed bundles at random time
// points of its run. The re-run must load each bundle exactly once (one record each,
// every bundle in done/) and write only the blobs the killed run had not verified.
func TestCampaignIngest(t *testing.T) {
	c := newCampaign(t, "ingest")
	snd := newCampaignSender(t, c, 3, 2, 256<<10, true)
	master := filepath.Join(snd.dir, "bundles")
	os.Mkdir(master, 0o755)
	var names []string
	for i, im := range snd.images {
		name := fmt.Sprintf("night%d.imgx", i)
		c.run(nil, "--store", snd.store, "save", "--sign-key", snd.key, im, "-o", filepath.Join(master, name))
		names = append(names, name)
	}
	want := c.tagDigests(snd.store)
	// fresh gives a new store and an incoming directory holding (links to) the bundles.
	fresh := func() (st, in, done string) {
		d := t.TempDir()
		st, in, done = filepath.Join(d, "store"), filepath.Join(d, "incoming"), filepath.Join(d, "done")
		os.Mkdir(in, 0o755)
		os.Mkdir(done, 0o755)
		for _, n := range names {
			if err := os.Link(filepath.Join(master, n), filepath.Join(in, n)); err != nil {
				t.Fatal(err)
			}
		}
		return st, in, done
	}
	type report struct {
		Loaded, Skipped, Waiting, Failed int
		Bytes                            int64 `json:"bytes"`
	}
	ingest := func(st, in, done string) []string {
		return []string{"--store", st, "ingest", "--key", snd.pub, "--json", in, "--done", done}
	}
	records := func(st string) int {
		ents, _ := os.ReadDir(filepath.Join(st, ".imgx", "records", "bundles"))
		n := 0
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), ".") { // a kill during a record's atomic write leaves a hidden temporary
				n++
			}
		}
		return n
	}
	var full report
	st, in, done := fresh()
	start := time.Now()
	c.runJSON(&full, nil, ingest(st, in, done)...)
	took := time.Since(start)
	if full.Loaded != len(names) || full.Failed+full.Waiting != 0 {
		t.Fatalf("uninterrupted ingest: %+v", full)
	}
	var last string
	for i := 0; i < c.points; i++ {
		st, in, done := fresh()
		last = st
		delay := time.Duration(c.rng.Int63n(int64(took)))
		point := fmt.Sprintf("point %d (%v of %v)", i, delay.Round(time.Millisecond), took.Round(time.Millisecond))
		if c.kill(nil, 0, delay, ingest(st, in, done)...) {
			took = took * 3 / 4 // runs are faster than the measured one: aim earlier
		}
		c.check(st, point)
		had, loadedBefore := present(t, st), records(st)
		var res report
		c.runJSON(&res, nil, ingest(st, in, done)...)
		if got := c.tagDigests(st); !sameMap(got, want) {
			t.Fatalf("%s: after the re-run the store has %v, want %v", point, got, want)
		}
		if n := records(st); n != len(names) || res.Loaded+loadedBefore != len(names) || res.Failed+res.Waiting != 0 {
			t.Fatalf("%s (seed %d): %d bundles recorded before the re-run, which reported %+v; %d recorded after, want %d each loaded once",
				point, c.seed, loadedBefore, res, n, len(names))
		}
		for _, n := range names {
			if _, err := os.Stat(filepath.Join(done, n)); err != nil {
				t.Fatalf("%s: %s not moved to done/: %v", point, n, err)
			}
		}
		if res.Bytes != full.Bytes-sum(had) {
			t.Fatalf("%s (seed %d): %d blobs (%d bytes) were verified before the kill, but the re-run wrote %d of %d bytes",
				point, c.seed, len(had), sum(had), res.Bytes, full.Bytes)
		}
		c.reusedBlobs += len(had)
		c.reusedBytes += sum(had)
	}
	// Prune removes what the kills left (a record's hidden temporary file, unused blobs).
	c.run(nil, "--store", last, "prune")
	if n := records(last); n != len(names) {
		t.Errorf("after prune, %d records, want %d", n, len(names))
	}
	if out := c.run(nil, "--store", last, "check"); !strings.Contains(out, " 0 problems") || !strings.Contains(out, " 0 leftovers") {
		t.Errorf("check after prune: %s", out)
	}
	c.report()
	if c.points >= 10 && c.reusedBlobs == 0 {
		t.Errorf("no kill left a verified blob: the campaign did not exercise resume")
	}
}

// TestCampaignPull kills `imgx pull` at random time points of a throttled download
// (about 3 MB/s) from a registry. The re-run must fetch exactly the blobs the killed run
// had not verified.
func TestCampaignPull(t *testing.T) {
	c := newCampaign(t, "pull")
	var blobGets atomic.Int64
	h := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
			blobGets.Add(1)
			w = &slowWriter{ResponseWriter: w}
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	img, err := random.Image(192<<10, 6)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := name.ParseReference(host+"/app:1", name.Insecure)
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	blobs := map[string]bool{}
	cfg, _ := img.ConfigName()
	blobs[cfg.String()] = true
	layers, _ := img.Layers()
	for _, l := range layers {
		d, _ := l.Digest()
		blobs[d.String()] = true
	}
	pull := func(st string) []string {
		return []string{"--store", st, "pull", "--insecure", "--progress", "none", "--jobs", "2", "--json", host + "/app:1"}
	}
	start := time.Now()
	c.run(nil, pull(filepath.Join(t.TempDir(), "ref"))...)
	took := time.Since(start)
	for i := 0; i < c.points; i++ {
		st := filepath.Join(t.TempDir(), "store")
		delay := time.Duration(c.rng.Int63n(int64(took)))
		point := fmt.Sprintf("point %d (%v of %v)", i, delay.Round(time.Millisecond), took.Round(time.Millisecond))
		if c.kill(nil, 0, delay, pull(st)...) {
			took = took * 3 / 4 // runs are faster than the measured one: aim earlier
		}
		c.check(st, point)
		had := map[string]int64{}
		for d, n := range present(t, st) {
			if blobs[d] {
				had[d] = n
			}
		}
		before := blobGets.Load()
		var res pullJSON
		c.runJSON(&res, nil, pull(st)...)
		if res.Digest.String() != want.String() {
			t.Fatalf("%s: the re-run pulled %s, want %s", point, res.Digest, want)
		}
		if res.AlreadyStored != len(had) || res.Fetched != res.Blobs-len(had) || blobGets.Load()-before != int64(res.Fetched) {
			t.Fatalf("%s (seed %d): %d blobs were verified before the kill; the re-run found %d, fetched %d of %d with %d GETs",
				point, c.seed, len(had), res.AlreadyStored, res.Fetched, res.Blobs, blobGets.Load()-before)
		}
		c.reusedBlobs += len(had)
		c.reusedBytes += sum(had)
	}
	c.report()
	if c.points >= 10 && c.reusedBlobs == 0 {
		t.Errorf("no kill left a verified blob: the campaign did not exercise resume")
	}
}

// saveCampaign kills `imgx save` of a signed bundle to dest(i) (a new file name for each
// point) at random time points, then checks the sender's store, that nothing incomplete
// was published under the name, and that the re-run publishes the bundle byte for byte.
// local reads a published or partial file where dest(i) puts it. It returns the bytes
// the re-runs reported as resumed and the bytes the killed runs had left to resume from.
func saveCampaign(t *testing.T, c *campaign, snd *campaignSender, extra []string, dest func(i int) string, local func(i int) string, byOffset bool, slow, fast func()) (resumed, partial int64) {
	t.Helper()
	refPath := filepath.Join(snd.dir, "ref.imgx")
	save := func(to string) []string {
		// Unsigned: decrypting the key takes most of a signed save's half second, where
		// the kills would bunch up; the signature is not what these campaigns test.
		return append(append([]string{"--store", snd.store, "save", "--json", "--progress", "none", "-o", to}, extra...), snd.images...)
	}
	c.run(nil, save(refPath)...)
	refSum, refInfo := sha256File(t, refPath), mustStat(t, refPath)
	before := testutil.TreeHash(t, snd.store)
	slow()
	start := time.Now()
	c.run(nil, save(dest(-1))...)
	took := time.Since(start)
	if got := sha256File(t, local(-1)); got != refSum {
		t.Fatalf("saving twice gave different bundles (%s, %s): a resume could not be checked", got, refSum)
	}
	type saveJSON struct {
		Output struct {
			Size    int64  `json:"size"`
			Resumed int64  `json:"resumed"`
			SHA256  string `json:"sha256"`
		} `json:"output"`
	}
	for i := 0; i < c.points; i++ {
		delay := time.Duration(c.rng.Int63n(int64(took)))
		point := fmt.Sprintf("point %d (%v of %v)", i, delay.Round(time.Millisecond), took.Round(time.Millisecond))
		if byOffset {
			// Kill once the partial file reaches a random byte offset of the bundle.
			at := 1 + c.rng.Int63n(refInfo.Size()-1)
			tmp := filepath.Join(filepath.Dir(local(i)), "."+filepath.Base(local(i))+".imgx-part")
			c.killWhen = func() bool { fi, err := os.Stat(tmp); return err == nil && fi.Size() >= at }
			point = fmt.Sprintf("point %d (byte %d of %d)", i, at, refInfo.Size())
		}
		slow()
		if c.kill(nil, 0, delay, save(dest(i))...) {
			took = took * 3 / 4 // runs are faster than the measured one: aim earlier
		}
		c.check(snd.store, point)
		if got := testutil.TreeHash(t, snd.store); got != before {
			t.Fatalf("%s: a killed save changed the sender's store", point)
		}
		// Published means complete: the file is there only with the whole bundle.
		if _, err := os.Stat(local(i)); err == nil {
			if got := sha256File(t, local(i)); got != refSum {
				t.Fatalf("%s (seed %d): an incomplete bundle was published under its name (sha256 %s)", point, c.seed, got)
			}
		}
		part := int64(0)
		if fi, err := os.Stat(filepath.Join(filepath.Dir(local(i)), "."+filepath.Base(local(i))+".imgx-part")); err == nil {
			part = fi.Size()
		}
		fast()
		var res saveJSON
		c.runJSON(&res, nil, save(dest(i))...)
		if got := sha256File(t, local(i)); got != refSum || res.Output.Size != refInfo.Size() {
			t.Fatalf("%s (seed %d): the re-run published %d bytes, sha256 %s; want %d bytes, %s", point, c.seed, res.Output.Size, got, refInfo.Size(), refSum)
		}
		if res.Output.Resumed > part {
			t.Fatalf("%s (seed %d): the re-run claims %d bytes resumed, but the killed run left %d", point, c.seed, res.Output.Resumed, part)
		}
		if byOffset && res.Output.Resumed != part {
			// A local partial file is read back and compared (transport.PartialReader),
			// and every byte a killed run wrote reached it: the page cache outlives the
			// process.
			t.Errorf("%s (seed %d): the re-run resumed %d bytes of the %d the killed run left", point, c.seed, res.Output.Resumed, part)
		}
		leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(local(i)), ".*"))
		if len(leftovers) != 0 {
			t.Fatalf("%s: the completed re-run left %v", point, leftovers)
		}
		resumed += res.Output.Resumed
		partial += part
		if res.Output.Resumed > 0 {
			c.reusedBlobs++ // one resumed upload
			c.reusedBytes += res.Output.Resumed
		}
	}
	c.report()
	return resumed, partial
}

func mustStat(t *testing.T, p string) os.FileInfo {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi
}

// TestCampaignSaveSFTP kills `imgx save -o sftp://…` to a real OpenSSH sshd at random time
// points of an upload throttled to about 3 MB/s by a proxy.
func TestCampaignSaveSFTP(t *testing.T) {
	sshd := testserver.StartSSHD(t)
	c := newCampaign(t, "save to SFTP")
	snd := newCampaignSender(t, c, 2, 2, 192<<10, false)
	proxy := testserver.StartProxy(t, sshd.Addr)
	// The proxy's address must be a known host too: the same host key.
	testserver.WriteKnownHosts(t, sshd.Keys.KnownHosts, proxy.Addr, sshd.Keys.HostSigner.PublicKey())
	remoteDir := filepath.Join(t.TempDir(), "incoming")
	os.Mkdir(remoteDir, 0o755)
	name := func(i int) string { return fmt.Sprintf("b%d.imgx", i+1) }
	ssh := []string{"--identity", sshd.Keys.ClientKey, "--known-hosts", sshd.Keys.KnownHosts, "--ssh-config", "none", "--retries", "0"}
	resumed, partial := saveCampaign(t, c, snd, ssh,
		func(i int) string { return fmt.Sprintf("sftp://%s@%s%s/%s", sshd.User, proxy.Addr, remoteDir, name(i)) },
		func(i int) string { return filepath.Join(remoteDir, name(i)) }, false,
		func() { proxy.Rate.Store(3 << 20) }, func() { proxy.Rate.Store(0) })
	if resumed == 0 && partial > 0 {
		// A SIGKILL leaves only the resume state saved at the last checkpoint, and
		// transport.Put saves one every 8 intervals of 8 MiB: an upload of a few MB killed
		// by SIGKILL starts again from 0 (the partial file is verified and rewritten, never
		// trusted). The lead decides whether small uploads should checkpoint sooner.
		t.Logf("GAP: %d bytes of partial uploads were left by the kills and none was resumed (checkpoints every 64 MiB)", partial)
	}
}

// TestCampaignSaveLocal kills `imgx save -o DIR/NAME` once its partial file reaches a
// random byte offset of the bundle.
func TestCampaignSaveLocal(t *testing.T) {
	c := newCampaign(t, "save to a local directory")
	snd := newCampaignSender(t, c, 2, 2, 2<<20, false)
	dir := filepath.Join(t.TempDir(), "usb")
	os.Mkdir(dir, 0o755)
	file := func(i int) string { return filepath.Join(dir, fmt.Sprintf("b%d.imgx", i+1)) }
	resumed, partial := saveCampaign(t, c, snd, nil, file, file, true, func() {}, func() {})
	if resumed == 0 || resumed != partial {
		t.Errorf("the re-runs resumed %d bytes of the %d the kills left", resumed, partial)
	}
}

// slowWriter sends at most 32 KiB per 10 ms (about 3 MB/s).
type slowWriter struct{ http.ResponseWriter }

func (s *slowWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		c := min(len(p), 32<<10)
		m, err := s.ResponseWriter.Write(p[:c])
		n += m
		if err != nil {
			return n, err
		}
		if f, ok := s.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		time.Sleep(10 * time.Millisecond)
		p = p[c:]
	}
	return n, nil
}

// TestSaveSFTPResumesAfterSIGKILL is the SFTP campaign's resume point at the size where a
// SIGKILL can leave something to resume: transport.Put saves its resume state every
// 8 checkpoints of 8 MiB, so an upload killed right after the state of 64 MiB was
// written must resume exactly there, and publish the same bundle.
func TestSaveSFTPResumesAfterSIGKILL(t *testing.T) {
	sshd := testserver.StartSSHD(t)
	c := newCampaign(t, "save to SFTP, resume")
	c.points = 1
	snd := &campaignSender{dir: t.TempDir()}
	snd.store = filepath.Join(snd.dir, "sender")
	if err := writeLayered(openStore(t, snd.store), "big:1", randomLayer(t, 7, 70<<20)); err != nil {
		t.Fatal(err)
	}
	ref := filepath.Join(snd.dir, "ref.imgx")
	save := func(to string) []string {
		return []string{"--store", snd.store, "save", "--json", "--progress", "none", "--compress", "none",
			"--identity", sshd.Keys.ClientKey, "--known-hosts", sshd.Keys.KnownHosts, "--ssh-config", "none", "-o", to, "big:1"}
	}
	c.run(nil, save(ref)...)
	remoteDir := filepath.Join(t.TempDir(), "incoming")
	os.Mkdir(remoteDir, 0o755)
	url := fmt.Sprintf("sftp://%s@%s%s/big.imgx", sshd.User, sshd.Addr, remoteDir)
	state := filepath.Join(remoteDir, ".big.imgx.imgx-part.json")

	cmd := exec.Command(c.bin, save(url)...)
	cmd.Env = c.env
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Kill once the state is complete. (It is written in place, truncated first: a kill
	// between the truncation and the write would leave nothing to resume.)
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(time.Millisecond) {
		if b, err := os.ReadFile(state); err == nil && json.Valid(b) {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("the upload ended (%v) before it saved a resume state:\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no resume state after 60 s")
		}
	}
	cmd.Process.Kill()
	<-exited
	c.kills++
	c.check(snd.store, "after the kill")
	if _, err := os.Stat(filepath.Join(remoteDir, "big.imgx")); err == nil {
		t.Fatal("an incomplete bundle was published under its name")
	}
	var res struct {
		Output struct {
			Size    int64  `json:"size"`
			Resumed int64  `json:"resumed"`
			SHA256  string `json:"sha256"`
		} `json:"output"`
	}
	c.runJSON(&res, nil, save(url)...)
	want := sha256File(t, ref)
	if got := sha256File(t, filepath.Join(remoteDir, "big.imgx")); got != want || res.Output.SHA256 != want {
		t.Fatalf("the resumed upload published sha256 %s (reported %s), want %s", got, res.Output.SHA256, want)
	}
	if res.Output.Resumed != 64<<20 {
		t.Fatalf("the re-run resumed %d bytes, want the 64 MiB the resume state covered", res.Output.Resumed)
	}
	c.reusedBytes += res.Output.Resumed
	c.report()
}

// imgxRunner runs imgx (bin) with a home of its own (no Docker or containers credentials
// of the user's); env may be extended between runs.
type imgxRunner struct {
	t   *testing.T
	bin string
	env []string
}

func newImgxRunner(t *testing.T, bin, home string) *imgxRunner {
	return &imgxRunner{t: t, bin: bin, env: append(os.Environ(), "HOME="+home,
		"DOCKER_CONFIG="+filepath.Join(home, "docker"), "REGISTRY_AUTH_FILE=", "XDG_RUNTIME_DIR=")}
}

// run fails the test unless imgx's exit status is what wantOK says; it returns the
// combined output.
func (r *imgxRunner) run(wantOK bool, args ...string) string {
	r.t.Helper()
	return r.runInput(wantOK, "", args...)
}

// runInput is run with stdin.
func (r *imgxRunner) runInput(wantOK bool, stdin string, args ...string) string {
	r.t.Helper()
	cmd := exec.Command(r.bin, args...)
	cmd.Env, cmd.Stdin = r.env, strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if (err == nil) != wantOK {
		r.t.Fatalf("imgx %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
