package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgx/imgx/internal/testserver"
	"github.com/imgx/imgx/seal"
	"github.com/imgx/imgx/transport"
)

// encryptedResume interrupts an encrypted `save -o url` once the partial upload
// (partPath) holds 600 KB, re-runs it, and checks that the re-run resumed, that the
// published file decrypts to exactly the unencrypted bundle, that the sender's resume
// record existed meanwhile and is gone after, and that a save of other bytes to the same
// place does not reuse the key (it resumes no more than age's public intro).
//
// local: the save writes to a local path, whose checkpoints sync in the background and
// whose Abort waits for them, so the cut need not wait for a whole resume state (which
// the background rewrites continually), and a bigger layer keeps the save running past
// the 600 KB mark.
func encryptedResume(t *testing.T, local bool, url, partPath, published string, flags ...string) {
	layer := 2 << 20
	if local {
		layer = 32 << 20
	}
	putTuning = transport.PutOptions{CheckpointInterval: 64 << 10, SaveEvery: 1}
	t.Cleanup(func() { putTuning = transport.PutOptions{} })
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	dir := t.TempDir()
	st := filepath.Join(dir, "store")
	if err := writeLayered(openStore(t, st), "app:1", randomLayer(t, 11, layer)); err != nil {
		t.Fatal(err)
	}
	idFile, rcpt, err := seal.GenerateIdentity(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ids, _ := seal.ReadIdentities(idFile, "key", nil)
	imgx := func(ctx context.Context, args ...string) (int, string) {
		var out, errb bytes.Buffer
		e := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb}
		code := run(ctx, append([]string{"--store", st}, args...), e)
		return code, out.String() + errb.String()
	}
	save := func(extra ...string) []string {
		return append(append(append([]string{"save", "--json", "--progress", "none", "--retries", "0", "--encrypt-to", rcpt}, flags...), extra...), "-o", url, "app:1")
	}
	ref := filepath.Join(dir, "ref.imgx")
	if code, out := imgx(context.Background(), "save", "--progress", "none", "-o", ref, "app:1"); code != 0 {
		t.Fatalf("reference save: %s", out)
	}

	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// Cut once 600 KB are there and the resume state beside them is whole: FTP
		// cannot read a partial file back, so it resumes from the state alone, and a cut
		// while the state is rewritten leaves none (a transport matter, not encryption's).
		for ctx.Err() == nil {
			fi, err := os.Stat(partPath)
			st, serr := os.ReadFile(partPath + ".json")
			if err == nil && fi.Size() >= 600<<10 && (local || serr == nil && json.Valid(st)) {
				cancel()
			}
			time.Sleep(time.Millisecond)
		}
	}()
	if code, out := imgx(ctx, save()...); code == 0 {
		t.Fatalf("the interrupted save succeeded: %s", out)
	}
	cancel()
	records, _ := filepath.Glob(filepath.Join(state, "imgx", "encrypt-resume", "*.json"))
	if len(records) != 1 {
		t.Fatalf("resume records after the interruption: %v", records)
	}
	if fi, err := os.Stat(records[0]); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("resume record mode: %v, %v", fi.Mode(), err)
	}
	part := mustStat(t, partPath).Size()
	stb, serr := os.ReadFile(partPath + ".json")
	t.Logf("after the cut: %d bytes uploaded, resume state %d bytes (valid %v, %v)", part, len(stb), json.Valid(stb), serr)

	code, out := imgx(context.Background(), save()...)
	if code != 0 {
		t.Fatalf("re-run: %s", out)
	}
	var res struct {
		Output struct{ Resumed int64 } `json:"output"`
	}
	if err := json.Unmarshal([]byte(out[:strings.LastIndexByte(out, '}')+1]), &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	t.Logf("the re-run resumed %d bytes (the interrupted run left %d)", res.Output.Resumed, part)
	if res.Output.Resumed < 64<<10 || res.Output.Resumed > part {
		t.Fatalf("the re-run resumed %d bytes of the %d left: the encrypted upload did not resume", res.Output.Resumed, part)
	}
	f, err := os.Open(published)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := seal.Open(f, ids)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(plain)
	f.Close()
	want, _ := os.ReadFile(ref)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("the resumed upload decrypts to %d bytes (%v), not the %d-byte bundle", len(got), err, len(want))
	}
	if records, _ := filepath.Glob(filepath.Join(state, "imgx", "encrypt-resume", "*.json")); len(records) != 0 {
		t.Fatalf("resume records left after publishing: %v", records)
	}

	// Other plaintext (another compression level) to the same place, interrupted and
	// re-run: a fresh key, so at most the public intro of the header matches.
	ctx, cancel = context.WithCancel(context.Background())
	go func() {
		for ctx.Err() == nil {
			if fi, err := os.Stat(partPath); err == nil && fi.Size() >= 300<<10 {
				cancel()
			}
			time.Sleep(time.Millisecond)
		}
	}()
	imgx(ctx, save("--level", "fastest")...)
	cancel()
	code, out = imgx(context.Background(), save("--level", "better")...)
	if code != 0 {
		t.Fatalf("save of other bytes: %s", out)
	}
	if err := json.Unmarshal([]byte(out[:strings.LastIndexByte(out, '}')+1]), &res); err != nil {
		t.Fatal(err)
	}
	if res.Output.Resumed > 64 {
		t.Fatalf("a save of other plaintext resumed %d bytes of the earlier ciphertext: the key was reused", res.Output.Resumed)
	}
}

// TestEncryptedSaveResumesLocal: an interrupted encrypted save to a local path resumes.
func TestEncryptedSaveResumesLocal(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "app.imgx")
	encryptedResume(t, true, out, filepath.Join(dir, ".app.imgx"+transport.TempSuffix), out)
}

// TestEncryptedSaveResumesSFTP: the same through a real OpenSSH sshd.
func TestEncryptedSaveResumesSFTP(t *testing.T) {
	sshd := testserver.StartSSHD(t)
	t.Setenv("SSH_AUTH_SOCK", "")
	dir := filepath.Join(t.TempDir(), "incoming")
	os.Mkdir(dir, 0o755)
	url := fmt.Sprintf("sftp://%s@%s%s/app.imgx", sshd.User, sshd.Addr, dir)
	encryptedResume(t, false, url, filepath.Join(dir, ".app.imgx"+transport.TempSuffix), filepath.Join(dir, "app.imgx"),
		"--identity", sshd.Keys.ClientKey, "--known-hosts", sshd.Keys.KnownHosts, "--ssh-config", "none")
}

// TestEncryptedSaveResumesFTP: the same through a real vsftpd.
func TestEncryptedSaveResumesFTP(t *testing.T) {
	ftpd := testserver.StartVsftpd(t, false)
	t.Setenv("IMGX_FTP_USER", ftpd.User)
	t.Setenv("IMGX_FTP_PASSWORD", ftpd.Password)
	os.MkdirAll(filepath.Join(ftpd.Root, "in"), 0o777)
	os.Chmod(filepath.Join(ftpd.Root, "in"), 0o777)
	encryptedResume(t, false, "ftp://"+ftpd.Addr+"/in/app.imgx", filepath.Join(ftpd.Root, "in", ".app.imgx"+transport.TempSuffix), filepath.Join(ftpd.Root, "in", "app.imgx"))
}
