// Command benchsubdelta measures sub-layer deltas (package layerdelta) on two rebuilt
// layers made from this host's files, side by side with today's layer delta (the whole
// new blob), zstd --patch-from and the compressed size of only the changed files; then
// how many layers of a small corpus a known compressor reproduces exactly.
//
//	benchsubdelta WORKDIR IMGX_V1 IMGX_V2 [SIZE_MB] [LAYOUT...]
//
// IMGX_V1/V2 are the same imgx built with different -ldflags ("the new binary" of
// scenario B). LAYOUT dirs are OCI layouts written by real tools whose layers join the
// reproducibility corpus. Used by scripts/bench-subdelta.sh.
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/bundle"
	"github.com/imgx/imgx/internal/compress"
	"github.com/imgx/imgx/layerdelta"
	"github.com/imgx/imgx/ref"
	"github.com/imgx/imgx/store"
)

// entry is one file of a synthetic layer: its content comes from a host file, possibly
// edited.
type entry struct {
	name  string
	src   string // host file, or "" for data
	data  []byte
	link  string
	mtime time.Time
	mode  int64
	edit  bool // an "upgraded" version of src
}

func main() {
	if p := os.Getenv("BENCH_PPROF"); p != "" && len(os.Args) == 5 && strings.HasPrefix(os.Args[1], "-") {
		// BENCH_PPROF=DIR writes a CPU profile of each build/rebuild child to DIR.
		f, err := os.Create(filepath.Join(p, fmt.Sprintf("%s-%d.pprof", strings.TrimPrefix(os.Args[1], "-"), os.Getpid())))
		check(err)
		check(pprof.StartCPUProfile(f))
		defer pprof.StopCPUProfile()
	}
	if len(os.Args) == 5 && os.Args[1] == "-build" {
		childBuild(os.Args[2], os.Args[3], os.Args[4])
		return
	}
	if len(os.Args) == 5 && os.Args[1] == "-floor" {
		// -floor BASE_BLOB NEW_TAR RESULT_JSON: the floor with the parameters a build found.
		var res result
		readJSON(os.Args[4], &res)
		i, c := floor(os.Args[2], os.Args[3], res.Params)
		fmt.Printf("floor: inflate %.2fs + %s %.2fs = %.2fs\n", i.Seconds(), res.Params, c.Seconds(), (i + c).Seconds())
		return
	}
	if len(os.Args) == 5 && os.Args[1] == "-rebuild" {
		childRebuild(os.Args[2], os.Args[3], os.Args[4])
		return
	}
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: benchsubdelta WORKDIR IMGX_V1 IMGX_V2 [SIZE_MB] [LAYOUT...]")
		os.Exit(2)
	}
	work, v1, v2 := os.Args[1], os.Args[2], os.Args[3]
	sizeMB := 80
	var layouts []string
	if len(os.Args) > 4 {
		n, err := strconv.Atoi(os.Args[4])
		check(err)
		sizeMB = n
		layouts = os.Args[5:]
	}
	check(os.MkdirAll(work, 0o755))

	if deb := os.Getenv("BENCH_DEBIAN"); deb != "" {
		// Real layers, as builders make them (scripts/debian-layers.sh).
		changes, _ := os.ReadFile(filepath.Join(deb, "base-2.changes"))
		fmt.Printf("== scenario A: a Debian bookworm base layer (debootstrap minbase), rebuilt with apt-get upgrade and ca-certificates added (%d packages unpacked)\n",
			strings.Count(string(changes), "Unpacking "))
		measureDebian(work, "A", filepath.Join(deb, "base-1.tar"), filepath.Join(deb, "base-2.tar"))
	} else {
		fmt.Printf("== scenario A (MODELLED, no BENCH_DEBIAN): a %d MB base layer from /usr/lib/x86_64-linux-gnu, rebuilt with 3 packages upgraded, 1 added, dpkg status edited\n", sizeMB)
		baseA, newA, changedA := scenarioA(int64(sizeMB) << 20)
		measure(work, "A", baseA, newA, changedA)
	}

	fmt.Println("== scenario B: an application layer, new imgx binary (the next build of imgx) and two changed assets")
	baseB, newB, changedB := scenarioB(v1, v2)
	measure(work, "B", baseB, newB, changedB)

	fmt.Println("== reproducibility corpus")
	corpus(work, layouts)

	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	fmt.Printf("peak RSS of the whole run: %.0f MB\n", float64(ru.Maxrss)/1024)
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchsubdelta:", err)
		os.Exit(1)
	}
}

func scenarioA(limit int64) (base, rebuilt []entry, changed []entry) {
	root := "/usr/lib/x86_64-linux-gnu"
	var all []entry
	var total int64
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || total >= limit {
			return nil
		}
		info, err := os.Lstat(p)
		if err != nil {
			return nil
		}
		name := strings.TrimPrefix(p, "/")
		e := entry{name: name, mtime: info.ModTime().Truncate(time.Second), mode: int64(info.Mode().Perm())}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			e.link, _ = os.Readlink(p)
		case info.Mode().IsRegular():
			if info.Size() > 16<<20 {
				return nil
			}
			e.src = p
			total += info.Size()
		case info.IsDir():
			e.name += "/"
		default:
			return nil
		}
		all = append(all, e)
		return nil
	})
	status := dpkgStatus(0)
	base = append(append([]entry{}, all...), entry{name: "var/lib/dpkg/status", data: status, mtime: time.Unix(1700000000, 0), mode: 0o644})

	// Three "packages" upgraded: runs of 8 regular files at 20%, 50%, 80% of the listing.
	now := time.Unix(1700086400, 0)
	rebuilt = append([]entry{}, all...)
	for _, at := range []int{len(all) / 5, len(all) / 2, len(all) * 4 / 5} {
		n := 0
		for i := at; i < len(rebuilt) && n < 8; i++ {
			if rebuilt[i].src == "" {
				continue
			}
			rebuilt[i].edit, rebuilt[i].mtime = true, now
			changed = append(changed, rebuilt[i])
			n++
		}
	}
	// One package added: 10 binaries from /usr/bin.
	added := 0
	ents, _ := os.ReadDir("/usr/bin")
	for _, d := range ents {
		info, err := d.Info()
		if err != nil || !info.Mode().IsRegular() || info.Size() < 20<<10 || info.Size() > 4<<20 || added == 10 {
			continue
		}
		e := entry{name: "usr/bin/" + d.Name(), src: "/usr/bin/" + d.Name(), mtime: now, mode: 0o755}
		rebuilt = append(rebuilt, e)
		changed = append(changed, e)
		added++
	}
	st := entry{name: "var/lib/dpkg/status", data: dpkgStatus(1), mtime: now, mode: 0o644}
	rebuilt = append(rebuilt, st)
	changed = append(changed, st)
	return base, rebuilt, changed
}

// dpkgStatus is a dpkg status file of 2000 packages; version v changes 4 of them.
func dpkgStatus(v int) []byte {
	var b bytes.Buffer
	for i := range 2000 {
		ver := "1.0"
		if v > 0 && i%500 == 7 {
			ver = "1.1"
		}
		fmt.Fprintf(&b, "Package: pkg%04d\nStatus: install ok installed\nPriority: optional\nSection: libs\nInstalled-Size: %d\nMaintainer: Debian <debian@example.org>\nArchitecture: amd64\nVersion: %s-%d\nDepends: libc6 (>= 2.36)\nDescription: package number %d\n\n", i, 100+i*7%9000, ver, i%7, i)
	}
	return b.Bytes()
}

func scenarioB(v1, v2 string) (base, rebuilt, changed []entry) {
	t0, t1 := time.Unix(1700000000, 0), time.Unix(1700086400, 0)
	base = append(base, entry{name: "app/", mtime: t0, mode: 0o755}, entry{name: "app/imgx", src: v1, mtime: t0, mode: 0o755})
	// Assets: docs and icons of this host.
	var assets []entry
	_ = filepath.WalkDir("/usr/share/doc", func(p string, d fs.DirEntry, err error) error {
		if err != nil || len(assets) >= 40 || !d.Type().IsRegular() {
			return nil
		}
		assets = append(assets, entry{name: "app/assets/" + strings.ReplaceAll(strings.TrimPrefix(p, "/usr/share/doc/"), "/", "_"), src: p, mtime: t0, mode: 0o644})
		return nil
	})
	base = append(base, assets...)
	rebuilt = append(rebuilt, entry{name: "app/", mtime: t1, mode: 0o755})
	bin := entry{name: "app/imgx", src: v2, mtime: t1, mode: 0o755}
	rebuilt = append(rebuilt, bin)
	changed = append(changed, bin)
	for i, a := range assets {
		if i == 5 || i == 17 {
			a.edit, a.mtime = true, t1
			changed = append(changed, a)
		}
		rebuilt = append(rebuilt, a)
	}
	return base, rebuilt, changed
}

// upgraded models a new version of a file: 16 bytes inserted at 8 places (code moves)
// and 1% of the bytes rewritten.
func upgraded(b []byte) []byte {
	out := make([]byte, 0, len(b)+128)
	step := len(b)/8 + 1
	for i := 0; i < len(b); i += step {
		out = append(out, b[i:min(i+step, len(b))]...)
		out = append(out, []byte("upgraded-1.1-+16")...)
	}
	for i := 0; i < len(out)/100; i++ {
		out[(i*7919)%len(out)] ^= 0x5a
	}
	return out
}

func writeTar(path string, es []entry) {
	f, err := os.Create(path)
	check(err)
	defer f.Close()
	tw := tar.NewWriter(f)
	for _, e := range es {
		h := &tar.Header{Name: e.name, ModTime: e.mtime, Mode: e.mode, Format: tar.FormatPAX}
		var data []byte
		switch {
		case e.link != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, e.link
		case strings.HasSuffix(e.name, "/"):
			h.Typeflag = tar.TypeDir
		default:
			h.Typeflag = tar.TypeReg
			data = e.data
			if e.src != "" {
				data, err = os.ReadFile(e.src)
				check(err)
			}
			if e.edit {
				data = upgraded(data)
			}
			h.Size = int64(len(data))
		}
		check(tw.WriteHeader(h))
		_, err = tw.Write(data)
		check(err)
	}
	check(tw.Close())
}

func compressFile(src, dst string, p layerdelta.Params) {
	in, err := os.Open(src)
	check(err)
	defer in.Close()
	out, err := os.Create(dst)
	check(err)
	defer out.Close()
	zw, err := p.NewWriter(out)
	check(err)
	_, err = io.Copy(zw, in)
	check(err)
	check(zw.Close())
}

func input(path string) (layerdelta.Input, *os.File) {
	f, err := os.Open(path)
	check(err)
	fi, err := f.Stat()
	check(err)
	h := sha256.New()
	_, err = io.Copy(h, f)
	check(err)
	return layerdelta.Input{Digest: digest.NewDigestFromBytes(digest.SHA256, h.Sum(nil)), Size: fi.Size(), Blob: f}, f
}

func size(p string) int64 {
	fi, err := os.Stat(p)
	check(err)
	return fi.Size()
}

func mb(n int64) string { return fmt.Sprintf("%8.2f MB", float64(n)/1e6) }

func measure(work, name string, base, rebuilt, changed []entry) {
	dir := filepath.Join(work, name)
	check(os.MkdirAll(dir, 0o755))
	bt, nt, ct := filepath.Join(dir, "base.tar"), filepath.Join(dir, "new.tar"), filepath.Join(dir, "changed.tar")
	writeTar(bt, base)
	writeTar(nt, rebuilt)
	writeTar(ct, changed)
	measureTars(dir, bt, nt, ct)
}

// measureDebian is scenario A from real layer tars (scripts/debian-layers.sh): the
// changed files are the entries of the rebuilt tar that the base lacks or holds with
// other content.
func measureDebian(work, name, baseTar, newTar string) {
	dir := filepath.Join(work, name)
	check(os.MkdirAll(dir, 0o755))
	bt, nt, ct := filepath.Join(dir, "base.tar"), filepath.Join(dir, "new.tar"), filepath.Join(dir, "changed.tar")
	check(os.Symlink(baseTar, bt))
	check(os.Symlink(newTar, nt))
	n, total := changedTar(bt, nt, ct)
	fmt.Printf("   changed entries: %d of %d (new or other content, link or mode)\n", n, total)
	measureTars(dir, bt, nt, ct)
}

// tarKey is what makes an entry unchanged: its header fields that land in the tar and
// its content.
func tarKey(h *tar.Header, sum [32]byte) string {
	return fmt.Sprintf("%c %o %d:%d %s %x", h.Typeflag, h.Mode, h.Uid, h.Gid, h.Linkname, sum)
}

// changedTar writes to out the entries of newTar that baseTar does not hold as they are,
// and returns how many of how many.
func changedTar(baseTar, newTar, out string) (changed, total int) {
	have := map[string]string{}
	eachEntry(baseTar, func(h *tar.Header, data []byte) { have[h.Name] = tarKey(h, sha256.Sum256(data)) })
	f, err := os.Create(out)
	check(err)
	defer f.Close()
	tw := tar.NewWriter(f)
	eachEntry(newTar, func(h *tar.Header, data []byte) {
		total++
		if have[h.Name] == tarKey(h, sha256.Sum256(data)) {
			return
		}
		changed++
		check(tw.WriteHeader(h))
		_, err := tw.Write(data)
		check(err)
	})
	check(tw.Close())
	return changed, total
}

// eachEntry calls fn with every entry of a tar file and its content.
func eachEntry(path string, fn func(*tar.Header, []byte)) {
	f, err := os.Open(path)
	check(err)
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		check(err)
		data, err := io.ReadAll(tr)
		check(err)
		fn(h, data)
	}
}

// measureTars prints scenario figures for a base tar, its rebuilt successor and the tar of
// only the changed files, all in dir.
func measureTars(dir, bt, nt, ct string) {
	gz := layerdelta.Params{Compressor: layerdelta.CompGoGzip, Level: -1} // docker, buildkit, containerd default
	bg, ng := bt+".gz", nt+".gz"
	compressFile(bt, bg, gz)
	t0 := time.Now()
	compressFile(nt, ng, gz)
	gzTime := time.Since(t0)
	compressFile(ct, ct+".gz", gz)
	zst := layerdelta.Params{Compressor: layerdelta.CompKlauspostZst, Level: 3, CRC: true, Concurrency: 1}
	compressFile(ct, ct+".zst", zst)

	patch := filepath.Join(dir, "patch.zst")
	t0 = time.Now()
	out, err := exec.Command("zstd", "-q", "-f", "-3", "--patch-from="+bt, nt, "-o", patch).CombinedOutput()
	patchTime := time.Since(t0)
	if err != nil {
		check(fmt.Errorf("zstd --patch-from: %v: %s", err, out))
	}

	tin, tf := input(ng)
	tf.Close()
	recPath := filepath.Join(dir, "recipe")
	// Build and rebuild run in child processes so their peak RSS is their own.
	buildTime, buildRSS := child("-build", ng, bg, recPath)
	var res result
	readJSON(recPath+".json", &res)
	rebuiltPath := filepath.Join(dir, "rebuilt.gz")
	rebuildTime, rebuildRSS := child("-rebuild", recPath, bg, rebuiltPath)
	if rin, rf := input(rebuiltPath); rin.Digest != tin.Digest {
		check(fmt.Errorf("rebuilt %s, want %s", rin.Digest, tin.Digest))
	} else {
		rf.Close()
	}

	today := size(ng)
	fmt.Printf("   layers: base %s compressed (%s tar), new %s compressed (%s tar); compressor found: %s\n",
		mb(size(bg)), mb(size(bt)), mb(today), mb(size(nt)), res.Params)
	fmt.Printf("   today's layer delta (whole new blob)     %s  1.000x\n", mb(today))
	fmt.Printf("   sub-layer recipe (%-4s, kept)            %s  %.3fx   [estimated before compression: file-level %s, CDC %s]\n", res.Method, mb(res.RecipeSize), float64(res.RecipeSize)/float64(today), mb(res.FileEstimate), mb(res.CDCEstimate))
	fmt.Printf("   zstd -3 --patch-from (uncompressed)      %s  %.3fx\n", mb(size(patch)), float64(size(patch))/float64(today))
	fmt.Printf("   changed files only, tar.gz / tar.zst     %s / %s  (recipe = %.2fx the zst)\n", mb(size(ct+".gz")), mb(size(ct+".zst")), float64(res.RecipeSize)/float64(size(ct+".zst")))
	fmt.Printf("   times: build recipe %.1fs (incl. compressor search), rebuild+verify %.1fs, gzip of the new layer %.1fs, zstd --patch-from %.1fs\n",
		buildTime.Seconds(), rebuildTime.Seconds(), gzTime.Seconds(), patchTime.Seconds())
	fmt.Printf("   peak RSS: build %d MB, rebuild %d MB\n", buildRSS>>10, rebuildRSS>>10)
	fmt.Printf("   rebuilt blob digest verified: %s\n", tin.Digest)
	bundles(dir, bt, nt, bg, ng, res.Params)
}

// bundles measures the delta bundle end to end: the image's previous version shipped in
// a full bundle and loaded at the receiver, then tonight's version as today's delta and
// as a --layer-recipes delta, each saved and loaded (times and bytes).
func bundles(dir, bt, nt, bg, ng string, params layerdelta.Params) {
	ctx := context.Background()
	src, err := store.Open(filepath.Join(dir, "sender"))
	check(err)
	addImage(ctx, src, "bench/app:nightly", bt, bg)
	full := filepath.Join(dir, "night-1.imgx")
	saveTo(ctx, src, full, bundle.SaveOptions{})
	base, err := bundle.ReadBase(ctx, full)
	check(err)
	addImage(ctx, src, "bench/app:nightly", nt, ng)
	today, recipes := filepath.Join(dir, "today.imgx"), filepath.Join(dir, "recipes.imgx")
	load := func(name, p string) cost {
		sd := filepath.Join(dir, "receiver-"+name)
		check(os.RemoveAll(sd))
		dst, err := store.Open(sd)
		check(err)
		loadFrom(ctx, dst, full)
		return loadFrom(ctx, dst, p)
	}
	// Three rounds, interleaved (the machine is shared): medians of wall time and of CPU
	// time (user+sys of this process, all threads), which another helper's load does not
	// inflate.
	var tSave, rSave, tLoad, rLoad, fInflate, fCompress, fl []cost
	for range rounds {
		tSave = append(tSave, saveTo(ctx, src, today, bundle.SaveOptions{Since: base}))
		rSave = append(rSave, saveTo(ctx, src, recipes, bundle.SaveOptions{Since: base, LayerRecipes: true, TempDir: dir}))
		tLoad = append(tLoad, load("today", today))
		rLoad = append(rLoad, load("recipes", recipes))
		var fi, fc time.Duration
		c := measured(func() { fi, fc = floor(bg, nt, params) })
		fInflate, fCompress, fl = append(fInflate, cost{wall: fi}), append(fCompress, cost{wall: fc}), append(fl, c)
	}
	ts, rs, tl, rl, f := medians(tSave), medians(rSave), medians(tLoad), medians(rLoad), medians(fl)
	fmt.Printf("   floor (one inflate of the base %.2fs + one %s pass over the new tar %.2fs): %s\n",
		medians(fInflate).wall.Seconds(), params, medians(fCompress).wall.Seconds(), f)
	fmt.Printf("   delta bundle, today:          %s, save %.2fs, load %.2fs  (cpu %.2fs / %.2fs)\n", mb(size(today)), ts.wall.Seconds(), tl.wall.Seconds(), ts.cpu.Seconds(), tl.cpu.Seconds())
	fmt.Printf("   delta bundle, layer recipes:  %s, save %.2fs, load %.2fs  (%.3fx the bytes, save %.1fx, load %.1fx)\n",
		mb(size(recipes)), rs.wall.Seconds(), rl.wall.Seconds(), float64(size(recipes))/float64(size(today)), rs.wall.Seconds()/ts.wall.Seconds(), rl.wall.Seconds()/tl.wall.Seconds())
	fmt.Printf("   layer recipes, cpu:           save %.2fs, load %.2fs  (save %.1fx, load %.1fx today's cpu)\n", rs.cpu.Seconds(), rl.cpu.Seconds(), rs.cpu.Seconds()/ts.cpu.Seconds(), rl.cpu.Seconds()/tl.cpu.Seconds())
	fmt.Printf("   layer recipes vs the floor:   save %.2fx, load %.2fx wall; %.2fx, %.2fx cpu  (medians of %d, interleaved)\n",
		rs.wall.Seconds()/f.wall.Seconds(), rl.wall.Seconds()/f.wall.Seconds(), rs.cpu.Seconds()/f.cpu.Seconds(), rl.cpu.Seconds()/f.cpu.Seconds(), rounds)
}

// cost is the wall and CPU time of one operation.
type cost struct{ wall, cpu time.Duration }

func (c cost) String() string {
	return fmt.Sprintf("%.2fs wall, %.2fs cpu", c.wall.Seconds(), c.cpu.Seconds())
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func measured(fn func()) cost {
	c0, t0 := cpuTime(), time.Now()
	fn()
	return cost{wall: time.Since(t0), cpu: cpuTime() - c0}
}

func medians(cs []cost) cost {
	var w, c []time.Duration
	for _, x := range cs {
		w, c = append(w, x.wall), append(c, x.cpu)
	}
	return cost{median(w), median(c)}
}

const rounds = 3

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// floor times what an exact rebuild cannot avoid: one decompression of the base blob and
// one compression of the new tar with the parameters that reproduce it.
func floor(baseBlob, newTar string, p layerdelta.Params) (inflate, comp time.Duration) {
	f, err := os.Open(baseBlob)
	check(err)
	t0 := time.Now()
	r, _, err := compress.NewReader(f, compress.Options{})
	check(err)
	_, err = io.Copy(io.Discard, r)
	check(err)
	r.Close()
	f.Close()
	inflate = time.Since(t0)
	in, err := os.Open(newTar)
	check(err)
	defer in.Close()
	t0 = time.Now()
	zw, err := p.NewWriter(io.Discard)
	check(err)
	_, err = io.Copy(zw, in)
	check(err)
	check(zw.Close())
	return inflate, time.Since(t0)
}

func addImage(ctx context.Context, s *store.Store, tag, tarPath, blobPath string) {
	tx, err := s.Begin(ctx)
	check(err)
	defer tx.Discard()
	tf, err := os.Open(tarPath)
	check(err)
	diffID, err := digest.SHA256.FromReader(tf)
	tf.Close()
	check(err)
	bf, err := os.Open(blobPath)
	check(err)
	ld, err := tx.Put(ctx, bf, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Size: -1})
	bf.Close()
	check(err)
	var cfg ocispec.Image
	cfg.OS, cfg.Architecture, cfg.RootFS.Type, cfg.RootFS.DiffIDs = "linux", "amd64", "layers", []digest.Digest{diffID}
	cb, _ := json.Marshal(cfg)
	cd, err := tx.PutBytes(ctx, ocispec.MediaTypeImageConfig, cb)
	check(err)
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cd, Layers: []ocispec.Descriptor{ld}}
	m.SchemaVersion = 2
	mbytes, _ := json.Marshal(m)
	md, err := tx.PutBytes(ctx, ocispec.MediaTypeImageManifest, mbytes)
	check(err)
	r, err := ref.ParseNamed(tag)
	check(err)
	tx.Tag(r, md)
	check(tx.Commit(ctx))
}

func saveTo(ctx context.Context, s *store.Store, p string, opts bundle.SaveOptions) cost {
	f, err := os.Create(p)
	check(err)
	defer f.Close()
	return measured(func() {
		_, err = bundle.Save(ctx, s, []string{"bench/app:nightly"}, f, opts)
		check(err)
	})
}

func loadFrom(ctx context.Context, s *store.Store, p string) cost {
	f, err := os.Open(p)
	check(err)
	defer f.Close()
	return measured(func() {
		_, err = bundle.Load(ctx, s, f, bundle.LoadOptions{})
		check(err)
	})
}

// corpus counts how many layers a known compressor reproduces: the scenario tars and two
// host trees compressed by each compressor builders use, plus the layers of the given
// OCI layouts (real tools' output).
func corpus(work string, layouts []string) {
	dir := filepath.Join(work, "corpus")
	check(os.MkdirAll(dir, 0o755))
	var tars []string
	for _, src := range []string{"/etc", "/usr/share/doc", "/usr/include"} {
		p := filepath.Join(dir, strings.ReplaceAll(strings.Trim(src, "/"), "/", "_")+".tar")
		out, err := exec.Command("tar", "-C", "/", "--exclude=etc/shadow*", "--exclude=etc/gshadow*", "-cf", p, "--ignore-failed-read", strings.TrimPrefix(src, "/")).CombinedOutput()
		if err != nil && size(p) == 0 {
			check(fmt.Errorf("tar %s: %v: %s", src, err, out))
		}
		tars = append(tars, p)
	}
	tars = append(tars, filepath.Join(work, "B", "new.tar"))
	type comp struct {
		name string
		make func(src, dst string)
	}
	lib := func(p layerdelta.Params) func(string, string) { return func(s, d string) { compressFile(s, d, p) } }
	cli := func(args ...string) func(string, string) {
		return func(s, d string) {
			in, err := os.Open(s)
			check(err)
			defer in.Close()
			out, err := os.Create(d)
			check(err)
			defer out.Close()
			cmd := exec.Command(args[0], args[1:]...)
			cmd.Stdin, cmd.Stdout = in, out
			check(cmd.Run())
		}
	}
	comps := []comp{
		{"Go gzip default (docker/buildkit/containerd)", lib(layerdelta.Params{Compressor: layerdelta.CompGoGzip, Level: -1})},
		{"Go gzip level 9", lib(layerdelta.Params{Compressor: layerdelta.CompGoGzip, Level: 9})},
		{"klauspost gzip default", lib(layerdelta.Params{Compressor: layerdelta.CompKlauspostGz, Level: -1})},
		{"pgzip default (containers/image, umoci)", lib(layerdelta.Params{Compressor: layerdelta.CompPgzip, Level: -1, BlockSize: 1 << 20})},
		{"klauspost zstd default (containerd zstd)", lib(layerdelta.Params{Compressor: layerdelta.CompKlauspostZst, Level: 2, CRC: true, Concurrency: 4})},
		{"GNU gzip -n -6 (tar | gzip)", cli("gzip", "-n", "-6")},
		{"zstd CLI -3", cli("zstd", "-q", "-3", "-c")},
	}
	ok, total := 0, 0
	for _, c := range comps {
		n := 0
		for _, tp := range tars {
			blob := filepath.Join(dir, "blob")
			c.make(tp, blob)
			if reproducible(blob) {
				n++
			}
		}
		fmt.Printf("   %-46s %d/%d reproducible\n", c.name, n, len(tars))
		ok, total = ok+n, total+len(tars)
	}
	for _, l := range layouts {
		n, t := 0, 0
		ents, err := os.ReadDir(filepath.Join(l, "blobs", "sha256"))
		check(err)
		sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
		for _, e := range ents {
			p := filepath.Join(l, "blobs", "sha256", e.Name())
			if !isLayer(p) {
				continue
			}
			t++
			if reproducible(p) {
				n++
			}
		}
		fmt.Printf("   layers of %-35s %d/%d reproducible\n", filepath.Base(l), n, t)
		ok, total = ok+n, total+t
	}
	fmt.Printf("   total: %d/%d layers reproducible\n", ok, total)
}

// isLayer: a gzip or zstd blob whose stream is a tar.
func isLayer(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 4)
	if _, err := io.ReadFull(f, head); err != nil {
		return false
	}
	if !(head[0] == 0x1f && head[1] == 0x8b) && !bytes.Equal(head, []byte{0x28, 0xb5, 0x2f, 0xfd}) {
		return false
	}
	_, _ = f.Seek(0, io.SeekStart)
	r, _, err := compress.NewReader(f, compress.Options{})
	if err != nil {
		return false
	}
	defer r.Close()
	_, err = tar.NewReader(r).Next()
	return err == nil || err == io.EOF
}

func reproducible(blob string) bool {
	f, err := os.Open(blob)
	check(err)
	defer f.Close()
	fi, err := f.Stat()
	check(err)
	var opened []func()
	defer func() {
		for _, c := range opened {
			c()
		}
	}()
	p, err := layerdelta.Reproduce(f, fi.Size(), func() (io.ReadCloser, error) {
		g, err := os.Open(blob)
		if err != nil {
			return nil, err
		}
		r, _, err := compress.NewReader(g, compress.Options{})
		if err != nil {
			g.Close()
			return nil, err
		}
		opened = append(opened, func() { r.Close(); g.Close() })
		return io.NopCloser(r), nil
	})
	_ = p
	return err == nil
}

// result is what the build child reports.
type result struct {
	Params       layerdelta.Params
	Method       string
	RecipeSize   int64
	FileSize     int64
	CDCSize      int64
	FileEstimate int64
	CDCEstimate  int64
}

func (r result) String() string { return r.Params.String() }

func readJSON(p string, v any) {
	b, err := os.ReadFile(p)
	check(err)
	check(json.Unmarshal(b, v))
}

// child runs this program in a mode and returns its wall time and peak RSS (KB). The RSS
// is measured by /usr/bin/time, whose own child starts from a small process: a child
// started from this one directly would report this process's high-water mark (Linux
// carries it over through vfork and exec).
func child(args ...string) (time.Duration, int64) {
	self, err := os.Executable()
	check(err)
	rss := filepath.Join(os.TempDir(), fmt.Sprintf("benchsubdelta-rss-%d", os.Getpid()))
	defer os.Remove(rss)
	cmd := exec.Command("/usr/bin/time", append([]string{"-f", "%M", "-o", rss, self}, args...)...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	t0 := time.Now()
	check(cmd.Run())
	d := time.Since(t0)
	b, err := os.ReadFile(rss)
	check(err)
	kb, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	check(err)
	return d, kb
}

func childBuild(target, base, out string) {
	tin, tf := input(target)
	bin, bf := input(base)
	defer tf.Close()
	defer bf.Close()
	rf, err := os.Create(out)
	check(err)
	res, err := layerdelta.Build(context.Background(), tin, []layerdelta.Input{bin}, rf, layerdelta.BuildOptions{TempDir: filepath.Dir(out)})
	check(err)
	check(rf.Close())
	b, err := json.Marshal(result{Params: res.Params, Method: res.Meta.Method, RecipeSize: res.RecipeSize, FileSize: res.FileSize, CDCSize: res.CDCSize, FileEstimate: res.FileEstimate, CDCEstimate: res.CDCEstimate})
	check(err)
	check(os.WriteFile(out+".json", b, 0o644))
}

func childRebuild(recipe, base, out string) {
	bin, bf := input(base)
	bf.Close()
	of, err := os.Create(out)
	check(err)
	rr, err := os.Open(recipe)
	check(err)
	defer rr.Close()
	_, err = layerdelta.Rebuild(context.Background(), rr, func(_ context.Context, d digest.Digest) (io.ReadCloser, error) {
		if d != bin.Digest {
			return nil, fs.ErrNotExist
		}
		return os.Open(base)
	}, of, layerdelta.RebuildOptions{TempDir: filepath.Dir(out)})
	check(err)
	check(of.Close())
}
