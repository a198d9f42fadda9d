package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imgx/imgx/internal/testutil"
	"github.com/imgx/imgx/transport"
	"github.com/imgx/imgx/transport/local"
)

// outside makes a sentinel tree beside the carrier: a trust directory with a public key
// whose content an attacker knows (it is public), and a config file.
func outside(t *testing.T) (dir string) {
	t.Helper()
	dir = t.TempDir()
	os.MkdirAll(filepath.Join(dir, "trust"), 0o755)
	os.WriteFile(filepath.Join(dir, "trust", "site.pub"), []byte("-----BEGIN PUBLIC KEY-----\nMFkw...\n-----END PUBLIC KEY-----\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "imgx.conf"), []byte("policy = strict\n"), 0o644)
	return dir
}

// TestHostileIngestVolumeIndex: issue 11 defect 2. A volume index on the carrier names,
// after a real bundle's own volume, a file outside the carrier (with its real size and
// sha256, which an attacker knows for a public key). Ingest with --done, --failed or
// --delete must not move or delete it, and the store must stay as it was.
func TestHostileIngestVolumeIndex(t *testing.T) {
	for _, mode := range []string{"done", "delete"} {
		t.Run(mode, func(t *testing.T) {
			k := newKit(t)
			out := outside(t)
			k.image("app:stable", "v1")
			k.save("app.imgx", nil, "app:stable")
			// Split the bundle into one volume plus an index naming the outside key.
			in := filepath.Join(k.incoming, "incoming")
			data, _ := os.ReadFile(filepath.Join(in, "app.imgx"))
			os.Remove(filepath.Join(in, "app.imgx"))
			os.WriteFile(filepath.Join(in, "app.imgx.001"), data, 0o644)
			pub := filepath.Join(out, "trust", "site.pub")
			pubData, _ := os.ReadFile(pub)
			rel, _ := filepath.Rel(in, pub)
			sum := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
			idx := map[string]any{"version": 1, "size": len(data) + len(pubData), "split_size": len(data), "volumes": []map[string]any{
				{"name": "app.imgx.001", "size": len(data), "sha256": sum(data)},
				{"name": rel, "size": len(pubData), "sha256": sum(pubData)},
			}}
			js, _ := json.Marshal(idx)
			os.WriteFile(filepath.Join(in, "app.imgx.volumes"), js, 0o644)
			before, store := testutil.TreeHash(t, out), storeHash(t, k)

			rep := k.run(func(o *Options) { o.Delete = mode == "delete" })
			if after := testutil.TreeHash(t, out); after != before {
				t.Fatalf("outside tree changed:\n%s\nwant\n%s", after, before)
			}
			if after := storeHash(t, k); after != store {
				t.Errorf("store changed:\n%s\nwant\n%s", after, store)
			}
			if got := outcomes(rep); got != "app.imgx=failed" || !strings.Contains(rep.Items[0].Reason, "app.imgx.volumes") {
				t.Errorf("outcomes %s (%s), want app.imgx failed naming the index", got, rep.Items[0].Reason)
			}
		})
	}
}

// TestHostileIngestReasonLink: links planted where ingest writes NAME.reason (the
// temporary name and the final one) are never written through.
func TestHostileIngestReasonLink(t *testing.T) {
	k := newKit(t)
	out := outside(t)
	conf := filepath.Join(out, "imgx.conf")
	os.WriteFile(filepath.Join(k.incoming, "incoming", "bad.imgx"), []byte("not a bundle"), 0o644)
	os.WriteFile(filepath.Join(k.incoming, "incoming", "worse.imgx"), []byte("not a bundle either"), 0o644)
	os.Symlink(conf, filepath.Join(k.incoming, "failed", ".bad.imgx.reason"+transport.TempSuffix))
	os.Symlink(conf, filepath.Join(k.incoming, "failed", "worse.imgx.reason"))
	before := testutil.TreeHash(t, out)
	rep := k.run()
	if after := testutil.TreeHash(t, out); after != before {
		t.Fatalf("outside file written through a planted link:\n%s", after)
	}
	if got := outcomes(rep); got != "bad.imgx=failed worse.imgx=failed" {
		t.Fatalf("outcomes %s", got)
	}
	// The planted temporary link is refused (with a warning); the final-name link takes
	// its slot: it stays as it was and the bundle goes to worse-2.imgx with its reason.
	if w := strings.Join(rep.Items[0].Warnings, " "); !strings.Contains(w, "symbolic link") {
		t.Errorf("bad.imgx warnings %q, want the refused link", w)
	}
	if fi, err := os.Lstat(filepath.Join(k.incoming, "failed", "worse.imgx.reason")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("worse.imgx.reason: %v %v, want the planted link, untouched", fi, err)
	}
	if fi, err := os.Lstat(filepath.Join(k.incoming, "failed", "worse-2.imgx.reason")); err != nil || !fi.Mode().IsRegular() || rep.Items[1].MovedTo != "failed/worse-2.imgx" {
		t.Errorf("worse-2.imgx.reason: %v %v, moved to %q; want a regular file beside failed/worse-2.imgx", fi, err, rep.Items[1].MovedTo)
	}
}

// TestHostileIngestSpecialEntries: a FIFO (which would block a reader forever), links and
// names with newlines or terminal escapes in the incoming directory are skipped with a
// notice; the good bundle loads.
func TestHostileIngestSpecialEntries(t *testing.T) {
	k := newKit(t)
	out := outside(t)
	k.image("app:stable", "v1")
	k.save("app.imgx", nil, "app:stable")
	in := filepath.Join(k.incoming, "incoming")
	if err := syscall.Mkfifo(filepath.Join(in, "fifo.imgx"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Symlink(filepath.Join(out, "imgx.conf"), filepath.Join(in, "link.imgx"))
	os.WriteFile(filepath.Join(in, "x\nfailed: evil.imgx"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(in, "\x1b[2Jclear.imgx"), []byte("x"), 0o644)
	var notices []string
	b, err := local.New(k.incoming, local.Options{Notice: func(m string) { notices = append(notices, m) }})
	if err != nil {
		t.Fatal(err)
	}
	k.backend = b
	before := testutil.TreeHash(t, out)
	done := make(chan *Report, 1)
	go func() { done <- k.run() }()
	var rep *Report
	select {
	case rep = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("ingest blocked")
	}
	if got := outcomes(rep); got != "app.imgx=loaded" {
		t.Errorf("outcomes %s", got)
	}
	if len(notices) != 4 {
		t.Errorf("notices %q, want 4", notices)
	}
	if after := testutil.TreeHash(t, out); after != before {
		t.Errorf("outside tree changed")
	}
	if _, err := os.Lstat(filepath.Join(in, "link.imgx")); err != nil {
		t.Errorf("a skipped link was moved: %v", err)
	}
}

// badNames is a backend whose listing returns hostile names, as a rogue SFTP or FTP
// server could.
type badNames struct {
	transport.Backend
	names []string
}

func (b *badNames) List(ctx context.Context, dir string, fn func(transport.FileInfo) error) error {
	for _, n := range b.names {
		if err := fn(transport.FileInfo{Name: n, Size: 10}); err != nil {
			return err
		}
	}
	return b.Backend.List(ctx, dir, fn)
}

// TestHostileIngestListingNames: names a server lists are validated before they become
// paths; a bad one is reported (quoted) and nothing is moved or deleted for it.
func TestHostileIngestListingNames(t *testing.T) {
	k := newKit(t)
	out := outside(t)
	os.WriteFile(filepath.Join(k.incoming, "x.imgx"), []byte("carrier root file"), 0o644)
	src := &badNames{Backend: k.backend, names: []string{"../x.imgx", "../../" + filepath.Base(out) + "/imgx.conf.imgx", "a\nb.imgx", "/abs.imgx", `..\x.imgx`}}
	before, carrier := testutil.TreeHash(t, out), testutil.TreeHash(t, k.incoming)
	rep := k.run(func(o *Options) { o.Delete, o.Source = true, src })
	if after := testutil.TreeHash(t, out); after != before {
		t.Errorf("outside tree changed")
	}
	if after := testutil.TreeHash(t, k.incoming); after != carrier {
		t.Errorf("carrier changed:\n%s", after)
	}
	if rep.Failed != 5 {
		t.Fatalf("report %+v, want 5 failed", rep)
	}
	for _, it := range rep.Items {
		if strings.ContainsAny(it.Name, "\n") || it.MovedTo != "" || !strings.Contains(it.Reason, "bad name") {
			t.Errorf("item %+v", it)
		}
	}
}

// storeHash covers the store's content: its blobs and index (the ingest lock file
// appears on the first run and is no content).
func storeHash(t *testing.T, k *kit) string {
	index, err := os.ReadFile(filepath.Join(k.receiver.Root(), "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	return testutil.TreeHash(t, filepath.Join(k.receiver.Root(), "blobs")) + string(index)
}
