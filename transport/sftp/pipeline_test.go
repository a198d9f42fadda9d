package sftp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pkg/sftp"
	gossh "golang.org/x/crypto/ssh"

	"github.com/imgx/imgx/internal/testserver"
	"github.com/imgx/imgx/transport"
	"github.com/imgx/imgx/transport/transporttest"
)

// startRequestServer serves h (pkg/sftp's request server) over SSH on loopback, for
// servers whose answers a test shapes.
func startRequestServer(t *testing.T, h sftp.Handlers) (addr string, keys *testserver.SSHKeys) {
	t.Helper()
	keys = testserver.NewSSHKeys(t)
	cfg := &gossh.ServerConfig{PublicKeyCallback: func(_ gossh.ConnMetadata, k gossh.PublicKey) (*gossh.Permissions, error) {
		if bytes.Equal(k.Marshal(), keys.ClientPub.Marshal()) {
			return nil, nil
		}
		return nil, errors.New("unknown key")
	}}
	cfg.AddHostKey(keys.HostSigner)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	testserver.WriteKnownHosts(t, keys.KnownHosts, l.Addr().String(), keys.HostSigner.PublicKey())
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				sc, chans, reqs, err := gossh.NewServerConn(c, cfg)
				if err != nil {
					return
				}
				defer sc.Close()
				go gossh.DiscardRequests(reqs)
				for nc := range chans {
					ch, creqs, err := nc.Accept()
					if err != nil {
						return
					}
					go func() {
						for req := range creqs {
							ok := req.Type == "subsystem" && len(req.Payload) >= 4 && string(req.Payload[4:]) == "sftp"
							req.Reply(ok, nil)
							if ok {
								srv := sftp.NewRequestServer(ch, h)
								srv.Serve()
								srv.Close()
								ch.Close()
							}
						}
					}()
				}
			}()
		}
	}()
	return l.Addr().String(), keys
}

// shortReads answers every read with at most max bytes, which the SFTP protocol
// allows (a server may send fewer bytes than asked) and a hostile server may do on
// purpose.
type shortReads struct {
	sftp.FileReader
	max int
}

func (s shortReads) Fileread(r *sftp.Request) (io.ReaderAt, error) {
	ra, err := s.FileReader.Fileread(r)
	if err != nil {
		return nil, err
	}
	return shortReaderAt{ra, s.max}, nil
}

type shortReaderAt struct {
	io.ReaderAt
	max int
}

func (s shortReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if len(p) > s.max {
		p = p[:s.max]
	}
	return s.ReaderAt.ReadAt(p, off)
}

// TestHostileShortReads: a server that answers every read with fewer bytes than asked
// (1000 of 32 KiB) still gives the exact file, through both reading paths: WriteTo
// (Get) and small Reads (load reads its input through bufio). pkg/sftp's concurrent
// File.WriteTo took a short answer for a whole one and skipped the rest of that
// request, so Get failed with "got N bytes, want M" before the read-ahead.
func TestHostileShortReads(t *testing.T) {
	h := sftp.InMemHandler()
	h.FileGet = shortReads{h.FileGet, 1000}
	addr, keys := startRequestServer(t, h)
	ctx := context.Background()
	b, err := Dial(ctx, location(t, addr, "u", "/"), testOptions(keys))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	data := transporttest.Data(3, 1<<20+77)
	if _, err := transport.Put(ctx, b, "f.imgx", bytes.NewReader(data), transport.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := transport.Get(ctx, b, "f.imgx", out, transport.GetOptions{}); err != nil {
		t.Fatalf("get: %v", err)
	}
	if got, _ := os.ReadFile(out.Name()); !bytes.Equal(got, data) {
		t.Fatalf("get: %d bytes differ from the %d sent", len(got), len(data))
	}
	for _, off := range []int64{0, 12345} {
		rc, err := b.Open(ctx, "f.imgx", off)
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		buf := make([]byte, 4096)
		for {
			n, err := rc.Read(buf)
			got.Write(buf[:n])
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("read at %d: %v", off+int64(got.Len()), err)
			}
		}
		rc.Close()
		if !bytes.Equal(got.Bytes(), data[off:]) {
			t.Fatalf("reads from %d: %d bytes differ from the %d sent", off, got.Len(), len(data[off:]))
		}
	}
}

// fakeFile answers ReadAt and WriteAt from memory after a delay that differs per
// request, so requests finish out of order; writes at failAt fail.
type fakeFile struct {
	mu     sync.Mutex
	data   []byte
	failAt map[int64]bool
	calls  int
}

func (f *fakeFile) delay(off int64) {
	time.Sleep(time.Duration((off/7)%5) * time.Millisecond)
}

func (f *fakeFile) ReadAt(p []byte, off int64) (int, error) {
	f.delay(off)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if off >= int64(len(f.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *fakeFile) WriteAt(p []byte, off int64) (int, error) {
	f.delay(off)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.failAt[off] {
		return 0, fmt.Errorf("write at %d: connection lost", off)
	}
	if end := off + int64(len(p)); end > int64(len(f.data)) {
		f.data = append(f.data, make([]byte, end-int64(len(f.data)))...)
	}
	copy(f.data[off:], p)
	return len(p), nil
}

// TestReadAhead: the stream is the file from the offset, for every read size and
// through WriteTo, with requests finishing out of order; a small file is read with
// few requests.
func TestReadAhead(t *testing.T) {
	data := transporttest.Data(5, 100<<10+3)
	for _, tc := range []struct {
		off   int64
		size  int
		depth int
		buf   int // 0: WriteTo
	}{
		{0, 1 << 10, 8, 100}, {0, 1 << 10, 8, 0}, {777, 4 << 10, 3, 5000}, {777, 4 << 10, 64, 0},
		{int64(len(data)), 1 << 10, 8, 10}, {int64(len(data)) + 5, 1 << 10, 8, 0}, {0, 200 << 10, 8, 1 << 20},
	} {
		t.Run(fmt.Sprintf("off%d_size%d_depth%d_buf%d", tc.off, tc.size, tc.depth, tc.buf), func(t *testing.T) {
			f := &fakeFile{data: data}
			r := newReadAhead(f, tc.off, tc.size, tc.depth)
			defer r.Close()
			var got bytes.Buffer
			if tc.buf == 0 {
				if _, err := r.WriteTo(&got); err != nil {
					t.Fatal(err)
				}
			} else if _, err := io.CopyBuffer(&got, struct{ io.Reader }{r}, make([]byte, tc.buf)); err != nil {
				t.Fatal(err)
			}
			want := data[min(tc.off, int64(len(data))):]
			if !bytes.Equal(got.Bytes(), want) {
				t.Fatalf("read %d bytes, want %d (equal: %v)", got.Len(), len(want), bytes.Equal(got.Bytes(), want))
			}
		})
	}
	// A file of one request: at most the starting requests are sent, not depth.
	f := &fakeFile{data: []byte("small")}
	r := newReadAhead(f, 0, 1<<10, 64)
	if b, err := io.ReadAll(r); err != nil || string(b) != "small" {
		t.Fatalf("small file: %q, %v", b, err)
	}
	r.Close()
	if f.calls > readAheadStart {
		t.Errorf("small file: %d requests, want at most %d", f.calls, readAheadStart)
	}
}

// TestReadAheadFailure: a failed request ends the stream with its error after the
// bytes before it, never with io.EOF (which would pass a truncated file for a whole one).
func TestReadAheadFailure(t *testing.T) {
	f := &failingReader{fakeFile: fakeFile{data: transporttest.Data(6, 50<<10)}, failAt: 20 << 10}
	r := newReadAhead(f, 0, 1<<10, 8)
	defer r.Close()
	got, err := io.ReadAll(r)
	if err == nil || !errors.Is(err, errLost) {
		t.Fatalf("read %d bytes, err %v; want errLost", len(got), err)
	}
	if len(got) != 20<<10 || !bytes.Equal(got, f.data[:20<<10]) {
		t.Fatalf("read %d bytes before the failure, want the %d before it", len(got), 20<<10)
	}
}

var errLost = errors.New("connection lost")

type failingReader struct {
	fakeFile
	failAt int64
}

func (f *failingReader) ReadAt(p []byte, off int64) (int, error) {
	if off == f.failAt {
		return 0, errLost
	}
	return f.fakeFile.ReadAt(p, off)
}

// TestWriteBehindSafePrefix: requests finish out of order and one in the middle fails
// while later ones succeed (a hole in the server's file). The failure shows at a later
// write or at flush, and safe is the end of the gapless acknowledged prefix, not the
// end of what was written.
func TestWriteBehindSafePrefix(t *testing.T) {
	const size = 1 << 10
	f := &fakeFile{failAt: map[int64]bool{100 + 5*size: true}}
	w := newWriteBehind(f, 100, size, 4)
	data := transporttest.Data(8, 20*size)
	var werr error
	for i := 0; i < len(data) && werr == nil; i += 3000 {
		werr = w.write(data[i:min(i+3000, len(data))])
	}
	ferr := w.flush()
	if ferr == nil {
		t.Fatal("flush after a failed request: no error")
	}
	if got := w.safe(); got != 100+5*size {
		t.Fatalf("safe = %d, want %d (the failed request's offset)", got, 100+5*size)
	}
	// Everything before the failure is on the "server", from offset 100.
	if !bytes.Equal(f.data[100:100+5*size], data[:5*size]) {
		t.Fatal("the acknowledged prefix differs from what was written")
	}
	if werr == nil {
		t.Log("the failure showed only at flush")
	}

	// Without failures: safe is the end, and the file is what was written.
	f = &fakeFile{}
	w = newWriteBehind(f, 0, size, 4)
	for i := 0; i < len(data); i += 777 {
		if err := w.write(data[i:min(i+777, len(data))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.flush(); err != nil {
		t.Fatal(err)
	}
	if w.safe() != int64(len(data)) || !bytes.Equal(f.data, data) {
		t.Fatalf("safe %d, file equal %v", w.safe(), bytes.Equal(f.data, data))
	}
}

// TestCreateCutsAfterFailedWrites: after an upload failed with writes in flight, the
// next Create of the same file in the process cuts the temporary file back to the
// acknowledged prefix, so a resume never keeps a hole (bytes after a failed request that
// landed while it did not).
func TestCreateCutsAfterFailedWrites(t *testing.T) {
	srv := testserver.StartSFTP(t)
	dir := t.TempDir()
	ctx := context.Background()
	bk, err := Dial(ctx, location(t, srv.Addr, "u", dir), testOptions(srv.Keys))
	if err != nil {
		t.Fatal(err)
	}
	defer bk.Close()
	tmp := filepath.Join(dir, transport.TempName("x.imgx"))
	if err := os.WriteFile(tmp, bytes.Repeat([]byte("a"), 5000), 0o644); err != nil {
		t.Fatal(err)
	}
	bk.noteCut(bk.path(transport.TempName("x.imgx")), 1234)
	u, err := bk.Create(ctx, "x.imgx")
	if err != nil {
		t.Fatal(err)
	}
	defer u.Abort(ctx)
	if u.Offset() != 1234 {
		t.Fatalf("offset %d after a failed pipelined upload, want the safe 1234", u.Offset())
	}
	if fi, _ := os.Stat(tmp); fi.Size() != 1234 {
		t.Fatalf("temporary file holds %d bytes, want 1234", fi.Size())
	}
	// The note is used once: a later Create keeps what is there.
	u.Abort(ctx)
	u2, err := bk.Create(ctx, "x.imgx")
	if err != nil {
		t.Fatal(err)
	}
	defer u2.Abort(ctx)
	if u2.Offset() != 1234 {
		t.Fatalf("second create: offset %d", u2.Offset())
	}
}
