package inflate

import (
	"archive/tar"
	"bytes"
	stdgzip "compress/gzip"
	"crypto/sha256"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	kgzip "github.com/klauspost/compress/gzip"
)

// benchInput is a gzip stream of real files: $INFLATE_BENCH_FILE if set (a gzip file, e.g.
// an image layer), else a tar of up to 64 MB of files from /usr/lib and /usr/bin
// compressed by compress/gzip at the default level, built in memory at benchmark time.
var benchInput = sync.OnceValues(func() ([]byte, error) {
	if f := os.Getenv("INFLATE_BENCH_FILE"); f != "" {
		return os.ReadFile(f)
	}
	var gz bytes.Buffer
	zw := stdgzip.NewWriter(&gz)
	if err := usrTar(zw, 64<<20); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return gz.Bytes(), nil
})

// usrTar writes a tar of regular files from /usr/lib and /usr/bin, up to limit bytes of
// content, in a stable (walk) order.
func usrTar(w io.Writer, limit int64) error {
	tw := tar.NewWriter(w)
	var total int64
	for _, root := range []string{"/usr/bin", "/usr/lib"} {
		err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
			if err != nil || total >= limit {
				return nil
			}
			if !de.Type().IsRegular() {
				return nil
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return nil // unreadable files are left out
			}
			if err := tw.WriteHeader(&tar.Header{Name: p[1:], Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
				return err
			}
			_, err = tw.Write(data)
			total += int64(len(data))
			return err
		})
		if err != nil {
			return err
		}
	}
	return tw.Close()
}

type decoderFunc func(io.Reader) (io.Reader, error)

var benchDecoders = []struct {
	name string
	new  decoderFunc
}{
	{"inflate", func(r io.Reader) (io.Reader, error) { return NewReader(r) }},
	{"klauspost", func(r io.Reader) (io.Reader, error) { return kgzip.NewReader(r) }},
	{"stdlib", func(r io.Reader) (io.Reader, error) { return stdgzip.NewReader(r) }},
}

// BenchmarkInflate decompresses the same input with this package, klauspost/compress/gzip
// and compress/gzip, and hashes the output with SHA-256 the way verify does (io.Copy,
// which takes each reader's WriteTo). MB/s are of decompressed output.
// INFLATE_BENCH_ROUNDS=N runs the decoders N times in turn (A/B interleaved). The input comes
// through a pipe-like reader handing out 1 MiB chunks, as verify's pipe does.
func BenchmarkInflate(b *testing.B) {
	gz, err := benchInput()
	if err != nil {
		b.Fatal(err)
	}
	zr, err := kgzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		b.Fatal(err)
	}
	size, err := io.Copy(io.Discard, zr)
	if err != nil {
		b.Fatal(err)
	}
	rounds := 1
	if n, err := strconv.Atoi(os.Getenv("INFLATE_BENCH_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	// Rounds interleave the decoders (the machine is shared: a noisy neighbour then hurts
	// all of them alike); go test -count would run each one's repeats back to back.
	for range rounds {
		for _, dec := range benchDecoders {
			for _, hash := range []bool{false, true} {
				name := dec.name
				if hash {
					name += "+sha256"
				}
				b.Run(name, func(b *testing.B) {
					b.SetBytes(size)
					for b.Loop() {
						r, err := dec.new(&chunkReader{data: gz, chunk: 1 << 20})
						if err != nil {
							b.Fatal(err)
						}
						var w io.Writer = io.Discard
						if hash {
							w = sha256.New()
						}
						n, err := io.Copy(w, r)
						if err != nil || n != size {
							b.Fatalf("%d bytes, %v; want %d", n, err, size)
						}
					}
				})
			}
		}
	}
}

// chunkReader returns data in reads of at most chunk bytes.
type chunkReader struct {
	data  []byte
	chunk int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.data[:min(len(c.data), c.chunk)])
	c.data = c.data[n:]
	return n, nil
}
