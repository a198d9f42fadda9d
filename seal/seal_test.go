package seal

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"golang.org/x/crypto/ssh"
)

type keypair struct {
	rcpt age.Recipient
	ids  []age.Identity
}

func x25519(t testing.TB) keypair {
	file, rs, err := GenerateIdentity(time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseRecipient(rs)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := ReadIdentities(file, "key.txt", nil)
	if err != nil {
		t.Fatal(err)
	}
	return keypair{r, ids}
}

// sshKey returns an SSH key pair as files: the authorized_keys line and the private
// key PEM, encrypted when pass is set.
func sshKey(t testing.TB, kind string, pass []byte) (pub string, priv []byte) {
	var k any
	switch kind {
	case "ed25519":
		_, k0, _ := ed25519.GenerateKey(rand.Reader)
		k = k0
	case "rsa":
		k0, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		k = k0
	}
	var blk *pem.Block
	var err error
	if pass != nil {
		blk, err = ssh.MarshalPrivateKeyWithPassphrase(k, "test", pass)
	} else {
		blk, err = ssh.MarshalPrivateKey(k, "test")
	}
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))), pem.EncodeToMemory(blk)
}

func sshPair(t testing.TB, kind string, pass []byte) keypair {
	pub, priv := sshKey(t, kind, pass)
	r, err := ParseRecipient(pub + " user@host")
	if err != nil {
		t.Fatal(err)
	}
	ids, err := ReadIdentities(priv, "id_"+kind, func() ([]byte, error) { return pass, nil })
	if err != nil {
		t.Fatal(err)
	}
	return keypair{r, ids}
}

func encrypt(t testing.TB, plain []byte, rcpts []age.Recipient, opts WriterOptions, binding []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, rcpts, opts)
	if err != nil {
		t.Fatal(err)
	}
	if binding != nil {
		if err := w.Bind(binding); err != nil {
			t.Fatal(err)
		}
	}
	// Odd write sizes cross chunk boundaries.
	for p := plain; len(p) > 0; {
		n := min(len(p), 7777)
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func data(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// TestRoundTrip: what seal writes, age's own reader decrypts (so `age -d` does), and
// Open reads; for every recipient kind and sizes around chunk boundaries.
func TestRoundTrip(t *testing.T) {
	pass := []byte("correct horse battery staple")
	pr, err := PassphraseRecipient(pass)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := PassphraseIdentity(pass)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]keypair{
		"x25519":                x25519(t),
		"ssh-ed25519":           sshPair(t, "ed25519", nil),
		"ssh-ed25519 encrypted": sshPair(t, "ed25519", []byte("sshpass")),
		"ssh-rsa":               sshPair(t, "rsa", nil),
		"passphrase":            {pr, []age.Identity{pid}},
	}
	sizes := []int{0, 1, chunkSize - 1, chunkSize, chunkSize + 1, 3 * chunkSize}
	for name, kp := range kinds {
		t.Run(name, func(t *testing.T) {
			for _, n := range sizes {
				if name == "passphrase" && n != 3*chunkSize { // scrypt costs a second a file
					continue
				}
				plain := data(n)
				ct := encrypt(t, plain, []age.Recipient{kp.rcpt}, WriterOptions{}, nil)
				r, err := age.Decrypt(bytes.NewReader(ct), kp.ids...)
				if err != nil {
					t.Fatalf("size %d: age.Decrypt: %v", n, err)
				}
				if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, plain) {
					t.Fatalf("size %d: age.Decrypt read %d bytes, %v", n, len(got), err)
				}
				r, err = Open(bytes.NewReader(ct), kp.ids)
				if err != nil {
					t.Fatalf("size %d: Open: %v", n, err)
				}
				if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, plain) {
					t.Fatalf("size %d: Open read %d bytes, %v", n, len(got), err)
				}
			}
		})
	}
}

// TestOpenReadsAge: files age itself wrote (binary and armored; empty, short, and
// ending in a full-length final chunk) open.
func TestOpenReadsAge(t *testing.T) {
	kp := x25519(t)
	for _, n := range []int{0, 200_000, 2 * chunkSize} {
		testOpenReadsAge(t, kp, data(n))
	}
}

func testOpenReadsAge(t *testing.T, kp keypair, plain []byte) {
	var bin bytes.Buffer
	w, err := age.Encrypt(&bin, kp.rcpt)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(plain)
	w.Close()
	for _, ct := range [][]byte{bin.Bytes(), armored(t, kp.rcpt, plain)} {
		r, err := Open(bytes.NewReader(ct), kp.ids)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("read %d bytes, %v", len(got), err)
		}
		if !IsEncrypted(ct) {
			t.Fatal("IsEncrypted false for an age file")
		}
	}
}

// TestMultipleRecipients: each of several recipients opens the file alone.
func TestMultipleRecipients(t *testing.T) {
	a, b := x25519(t), sshPair(t, "ed25519", nil)
	plain := data(100_000)
	ct := encrypt(t, plain, []age.Recipient{a.rcpt, b.rcpt}, WriterOptions{}, nil)
	for _, kp := range []keypair{a, b} {
		r, err := Open(bytes.NewReader(ct), kp.ids)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := io.ReadAll(r); !bytes.Equal(got, plain) {
			t.Fatal("plaintext differs")
		}
	}
	pr, _ := PassphraseRecipient([]byte("x"))
	if _, err := NewWriter(io.Discard, []age.Recipient{a.rcpt, pr}, WriterOptions{}); err == nil {
		t.Fatal("a passphrase mixed with a key was accepted")
	}
}

// TestResume: the same binding and recipients give the same bytes (so the transport's
// prefix check resumes); another binding gets a fresh key and replaces the record.
func TestResume(t *testing.T) {
	kp := x25519(t)
	dir := filepath.Join(t.TempDir(), "state")
	rec := filepath.Join(dir, "out.json")
	plain := data(300_000)
	opts := WriterOptions{ResumeFile: rec}
	one := encrypt(t, plain, []age.Recipient{kp.rcpt}, opts, []byte("manifest A"))
	two := encrypt(t, plain, []age.Recipient{kp.rcpt}, opts, []byte("manifest A"))
	if !bytes.Equal(one, two) {
		t.Fatal("same binding: the ciphertext differs, resume cannot work")
	}
	for p, want := range map[string]os.FileMode{rec: 0o600, dir: 0o700 | os.ModeDir} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode() != want {
			t.Fatalf("%s: mode %v, %v; want %v", p, fi.Mode(), err, want)
		}
	}
	three := encrypt(t, plain, []age.Recipient{kp.rcpt}, opts, []byte("manifest B"))
	if bytes.Equal(one[:len(one)/2], three[:len(one)/2]) || bytes.Equal(one[len(one)-100:], three[len(three)-100:]) {
		t.Fatal("another binding reused the key")
	}
	other := x25519(t)
	four := encrypt(t, plain, []age.Recipient{other.rcpt}, opts, []byte("manifest B"))
	if bytes.Equal(three[len(three)-100:], four[len(four)-100:]) {
		t.Fatal("other recipients reused the key")
	}
	w, _ := NewWriter(io.Discard, []age.Recipient{kp.rcpt}, opts)
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("a resumable writer wrote without Bind")
	}
	if err := DiscardResume(rec); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(rec); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("record still there: %v", err)
	}
	if err := DiscardResume(rec); err != nil {
		t.Fatal("second discard:", err)
	}
}

// TestKeyConfusion: a private key where a recipient is expected and the reverse are
// clear errors that never repeat the secret.
func TestKeyConfusion(t *testing.T) {
	idFile, rcpt, _ := GenerateIdentity(time.Unix(0, 0))
	secret := strings.TrimSpace(string(idFile[bytes.LastIndexByte(idFile[:len(idFile)-1], '\n')+1:]))
	sshPub, sshPriv := sshKey(t, "ed25519", nil)
	recipientCases := map[string]string{
		"age identity line":    secret,
		"ssh private key text": string(sshPriv),
	}
	for name, in := range recipientCases {
		_, err := ParseRecipient(in)
		if !errors.Is(err, ErrNotRecipient) || strings.Contains(err.Error(), "SECRET-KEY-1") {
			t.Errorf("ParseRecipient(%s): %v", name, err)
		}
		_, err = ReadRecipients(strings.NewReader("# list\n"+in+"\n"), "r.txt")
		if !errors.Is(err, ErrNotRecipient) || strings.Contains(err.Error(), "SECRET-KEY-1") {
			t.Errorf("ReadRecipients(%s): %v", name, err)
		}
	}
	for name, in := range map[string]string{"age recipient": rcpt, "ssh public key": sshPub, "age recipients file": "# keys\n" + rcpt + "\n"} {
		if _, err := ReadIdentities([]byte(in), "k", nil); !errors.Is(err, ErrNotIdentity) {
			t.Errorf("ReadIdentities(%s): %v", name, err)
		}
	}
	if _, err := ParseRecipient("hunter2"); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("unknown recipient: %v", err)
	}
	if rs, err := ReadRecipients(strings.NewReader("# team\n\n"+rcpt+"\n"+sshPub+"\n"), "r.txt"); err != nil || len(rs) != 2 {
		t.Errorf("recipients file: %d, %v", len(rs), err)
	}
}

// TestPassphraseProtectedIdentityFile: an identity file encrypted with age -p opens with
// its passphrase.
func TestPassphraseProtectedIdentityFile(t *testing.T) {
	idFile, rcpt, _ := GenerateIdentity(time.Unix(0, 0))
	pr, _ := PassphraseRecipient([]byte("pw"))
	prot := encrypt(t, idFile, []age.Recipient{pr}, WriterOptions{}, nil)
	ids, err := ReadIdentities(prot, "key.age", func() ([]byte, error) { return []byte("pw"), nil })
	if err != nil {
		t.Fatal(err)
	}
	if ids[0].(*age.X25519Identity).Recipient().String() != rcpt {
		t.Fatal("wrong identity")
	}
}

func armored(t testing.TB, r age.Recipient, plain []byte) []byte {
	var buf bytes.Buffer
	aw := armorWriter(&buf)
	w, err := age.Encrypt(aw, r)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(plain)
	w.Close()
	aw.Close()
	return buf.Bytes()
}

// TestWriteSizes: however the plaintext is cut into writes (whole chunks are sealed
// straight from the caller's slice), age reads back the same bytes.
func TestWriteSizes(t *testing.T) {
	kp := x25519(t)
	for _, n := range []int{chunkSize, chunkSize + 1, 2 * chunkSize, 5*chunkSize + 3, batchSize, 2 * batchSize, 2*batchSize + 1, 40*chunkSize + 7} {
		plain := data(n)
		for _, step := range []int{n, 7777, chunkSize + 5, chunkSize, batchSize + 1} {
			var buf bytes.Buffer
			w, _ := NewWriter(&buf, []age.Recipient{kp.rcpt}, WriterOptions{})
			for p := plain; len(p) > 0; {
				k := min(len(p), step)
				if m, err := w.Write(p[:k]); err != nil || m != k {
					t.Fatalf("write %d: %d, %v", k, m, err)
				}
				p = p[k:]
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			r, err := age.Decrypt(&buf, kp.ids...)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("size %d in writes of %d: read %d bytes, %v", n, step, len(got), err)
			}
		}
	}
}

// TestWriterStops: Abort leaves no complete age file (no final chunk), and a failing
// destination fails Write or Close instead of blocking the writer.
func TestWriterStops(t *testing.T) {
	kp := x25519(t)
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, []age.Recipient{kp.rcpt}, WriterOptions{})
	w.Write(data(3 * batchSize))
	w.Abort()
	w.Abort()
	if err := w.Close(); err == nil {
		t.Fatal("Close after Abort succeeded")
	}
	if err := open(buf.Bytes(), kp.ids); !errors.Is(err, ErrCiphertext) {
		t.Fatalf("an aborted file reads as %v, want ErrCiphertext", err)
	}
	fw, _ := NewWriter(failWriter{limit: 1000}, []age.Recipient{kp.rcpt}, WriterOptions{})
	_, werr := fw.Write(data(5 * batchSize))
	if cerr := fw.Close(); werr == nil && cerr == nil {
		t.Fatal("a failing destination went unnoticed")
	}
}

type failWriter struct{ limit int }

func (f failWriter) Write(p []byte) (int, error) {
	if len(p) > f.limit {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}
