package dial

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/imgx/imgx/transport"
	"github.com/imgx/imgx/transport/local"
	"github.com/imgx/imgx/transport/transporttest"
)

// TestWriteOpenInput: Write publishes, reads back and OpenInput reads the same bytes;
// a directory is returned as Input.Dir.
func TestWriteOpenInput(t *testing.T) {
	data := transporttest.Data(3, 300<<10)
	dir := t.TempDir()
	out := filepath.Join(dir, "x.imgx")
	res, err := Write(context.Background(), out, Options{}, WriteOptions{Size: int64(len(data)), Verify: true}, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Size != int64(len(data)) || res.Resumed != 0 {
		t.Errorf("result %+v", res)
	}
	in, err := OpenInput(context.Background(), out, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(in.R)
	in.R.Close()
	if err != nil || !bytes.Equal(got, data) || in.Size != int64(len(data)) || in.Name != out {
		t.Errorf("read back %d bytes (%v), size %d, name %q", len(got), err, in.Size, in.Name)
	}
	in, err = OpenInput(context.Background(), dir, Options{})
	if err != nil || in.Dir != dir || in.R != nil {
		t.Errorf("directory: %+v, %v", in, err)
	}
	if _, err := OpenInput(context.Background(), filepath.Join(dir, "missing"), Options{}); err == nil {
		t.Error("a missing file opened")
	}
}

// TestHostileWriteTempLink: a link planted at the temporary name is a permanent
// *WriteError naming the file, and nothing is published.
func TestHostileWriteTempLink(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(victim, []byte("precious"), 0o644)
	os.Symlink(victim, filepath.Join(dir, ".x.imgx"+transport.TempSuffix))
	_, err := Write(context.Background(), filepath.Join(dir, "x.imgx"), Options{}, WriteOptions{}, func(w io.Writer) error {
		_, err := w.Write([]byte("bundle"))
		return err
	})
	var we *WriteError
	if !errors.As(err, &we) || !we.Permanent || we.Name != "x.imgx" || !errors.Is(err, local.ErrSymlink) {
		t.Fatalf("write through a planted link: %v", err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Errorf("victim now %q", b)
	}
	if _, err := os.Lstat(filepath.Join(dir, "x.imgx")); !os.IsNotExist(err) {
		t.Errorf("published: %v", err)
	}
}

// TestWriteFillError: the producer's error is returned as it is, not as an upload failure.
func TestWriteFillError(t *testing.T) {
	boom := errors.New("boom")
	_, err := Write(context.Background(), filepath.Join(t.TempDir(), "x.imgx"), Options{}, WriteOptions{}, func(w io.Writer) error {
		w.Write([]byte("part"))
		return boom
	})
	if err != boom {
		t.Fatalf("got %v, want the producer's error", err)
	}
}

// TestOpenInputAt: a local file's Input.At reads the file that was opened, by offset,
// even once its name points elsewhere (a link swapped in after the open); a volume set
// (NAME.001, …) has none, and its stream reads on as before.
func TestOpenInputAt(t *testing.T) {
	data := transporttest.Data(4, 200<<10)
	dir := t.TempDir()
	p := filepath.Join(dir, "x.imgx")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	in, err := OpenInput(context.Background(), p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer in.R.Close()
	if in.At == nil {
		t.Fatal("a local file has no Input.At")
	}
	other := filepath.Join(dir, "other")
	os.WriteFile(other, bytes.Repeat([]byte("x"), len(data)), 0o644)
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(other, p); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 1000)
	if n, err := in.At.ReadAt(got, 5000); n != len(got) || err != nil || !bytes.Equal(got, data[5000:6000]) {
		t.Fatalf("ReadAt = %d, %v; the bytes of the file opened: %v", n, err, bytes.Equal(got, data[5000:6000]))
	}
	if b, err := io.ReadAll(in.R); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("the stream after ReadAt: %d bytes, %v", len(b), err)
	}

	vout := filepath.Join(t.TempDir(), "v.imgx")
	if _, err := Write(context.Background(), vout, Options{Local: local.Options{SplitSize: 64 << 10}}, WriteOptions{}, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(vout + ".002"); err != nil {
		t.Fatalf("no volume set written: %v", err)
	}
	vin, err := OpenInput(context.Background(), vout, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer vin.R.Close()
	if vin.At != nil {
		t.Fatal("a volume set has an Input.At")
	}
	if b, err := io.ReadAll(vin.R); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("volume set: %d bytes, %v", len(b), err)
	}
}
