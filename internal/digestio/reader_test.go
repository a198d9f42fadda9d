package digestio

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}

func TestVerifyReader(t *testing.T) {
	data := []byte("hello, content-addressed world")
	d := digest.FromBytes(data)
	n := int64(len(data))

	tests := []struct {
		name    string
		src     []byte
		want    digest.Digest
		size    int64
		readErr []error // errors.Is targets for the error from reading to the end
		vErr    []error // errors.Is targets for Verify (nil: must succeed)
		got     digest.Digest
	}{
		{name: "exact", src: data, want: d, size: n},
		{name: "empty blob", src: nil, want: digest.FromBytes(nil), size: 0},
		{name: "sha512", src: data, want: digest.SHA512.FromBytes(data), size: n},
		{name: "short data", src: data[:n-3], want: d, size: n,
			readErr: []error{ErrSizeMismatch, io.ErrUnexpectedEOF}},
		{name: "empty source", src: nil, want: d, size: n,
			readErr: []error{ErrSizeMismatch, io.ErrUnexpectedEOF}},
		{name: "trailing data", src: append(bytes.Clone(data), "extra"...), want: d, size: n,
			vErr: []error{ErrSizeMismatch, ErrTrailingData}},
		{name: "trailing after empty blob", src: []byte("x"), want: digest.FromBytes(nil), size: 0,
			vErr: []error{ErrSizeMismatch, ErrTrailingData}},
		{name: "size lies small", src: data, want: d, size: n - 1,
			readErr: []error{ErrDigestMismatch}, got: digest.FromBytes(data[:n-1])},
		{name: "size lies large", src: data, want: d, size: n + 1,
			readErr: []error{ErrSizeMismatch, io.ErrUnexpectedEOF}},
		{name: "size lies zero", src: data, want: d, size: 0,
			readErr: []error{ErrDigestMismatch}, got: digest.FromBytes(nil)},
		{name: "flipped first bit", src: flip(data, 0), want: d, size: n,
			readErr: []error{ErrDigestMismatch}, got: digest.FromBytes(flip(data, 0))},
		{name: "flipped middle bit", src: flip(data, int(n/2)), want: d, size: n,
			readErr: []error{ErrDigestMismatch}, got: digest.FromBytes(flip(data, int(n/2)))},
		{name: "flipped last bit", src: flip(data, int(n-1)), want: d, size: n,
			readErr: []error{ErrDigestMismatch}, got: digest.FromBytes(flip(data, int(n-1)))},
		{name: "wrong algorithm content", src: data, want: digest.NewDigestFromEncoded(digest.SHA256, digest.SHA512.FromBytes(data).Encoded()[:64]), size: n,
			readErr: []error{ErrDigestMismatch}, got: d},
		{name: "invalid digest", src: data, want: "sha256:xyz", size: n,
			readErr: []error{ErrInvalidDescriptor, digest.ErrDigestInvalidLength}},
		{name: "bad hex", src: data, want: digest.Digest("sha256:" + strings.Repeat("Z", 64)), size: n,
			readErr: []error{ErrInvalidDescriptor, digest.ErrDigestInvalidFormat}},
		{name: "unsupported algorithm", src: data, want: "md5:0123456789abcdef0123456789abcdef", size: n,
			readErr: []error{ErrInvalidDescriptor, digest.ErrDigestUnsupported}},
		{name: "empty digest", src: data, want: "", size: n,
			readErr: []error{ErrInvalidDescriptor}},
		{name: "negative size", src: data, want: d, size: -1,
			readErr: []error{ErrInvalidDescriptor}},
	}
	readers := map[string]func(io.Reader) io.Reader{
		"plain":    func(r io.Reader) io.Reader { return r },
		"onebyte":  iotest.OneByteReader,
		"dataerr":  iotest.DataErrReader, // returns the last data together with io.EOF
		"halfread": iotest.HalfReader,
	}
	for _, tt := range tests {
		for rname, wrap := range readers {
			t.Run(tt.name+"/"+rname, func(t *testing.T) {
				v := NewVerifyReader(wrap(bytes.NewReader(tt.src)), tt.want, tt.size)
				out, err := io.ReadAll(v)
				if int64(len(out)) > max(tt.size, 0) {
					t.Fatalf("read %d bytes, more than size %d", len(out), tt.size)
				}
				if tt.readErr == nil {
					if err != nil {
						t.Fatalf("ReadAll: %v", err)
					}
					if !bytes.Equal(out, tt.src[:tt.size]) {
						t.Fatalf("ReadAll = %q, want %q", out, tt.src[:tt.size])
					}
				} else {
					for _, target := range tt.readErr {
						if !errors.Is(err, target) {
							t.Fatalf("ReadAll error = %v, want errors.Is %v", err, target)
						}
					}
				}
				verr := v.Verify()
				wantV := tt.vErr
				if tt.readErr != nil {
					wantV = tt.readErr // Verify repeats the read failure
				}
				if wantV == nil && verr != nil {
					t.Fatalf("Verify: %v", verr)
				}
				for _, target := range wantV {
					if !errors.Is(verr, target) {
						t.Fatalf("Verify error = %v, want errors.Is %v", verr, target)
					}
				}
				if tt.got != "" {
					var me *MismatchError
					if !errors.As(verr, &me) {
						t.Fatalf("Verify error %v is not a *MismatchError", verr)
					}
					if me.Want != tt.want || me.Got != tt.got {
						t.Fatalf("MismatchError = {%s %s}, want {%s %s}", me.Want, me.Got, tt.want, tt.got)
					}
				}
				if again := v.Verify(); (again == nil) != (verr == nil) {
					t.Fatalf("Verify not idempotent: %v then %v", verr, again)
				}
			})
		}
	}
}

func TestVerifyBeforeEnd(t *testing.T) {
	data := []byte("0123456789")
	v := NewVerifyReader(bytes.NewReader(data), digest.FromBytes(data), int64(len(data)))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(v, buf); err != nil {
		t.Fatal(err)
	}
	err := v.Verify()
	if !errors.Is(err, ErrNotFinished) {
		t.Fatalf("Verify mid-stream = %v, want ErrNotFinished", err)
	}
	if !strings.Contains(err.Error(), "read 4 of 10 bytes") {
		t.Fatalf("error %q does not say how far it got", err)
	}
	// Not sticky: finishing the read makes it verify.
	if _, err := io.Copy(io.Discard, v); err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(); err != nil {
		t.Fatalf("Verify after finishing: %v", err)
	}
}

// Exactly size bytes read with io.ReadFull and no final Read must still verify.
func TestVerifyWithoutFinalRead(t *testing.T) {
	data := []byte("exact")
	v := NewVerifyReader(strings.NewReader("exact"), digest.FromBytes(data), 5)
	buf := make([]byte, 5)
	if _, err := io.ReadFull(v, buf); err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(); err != nil {
		t.Fatal(err)
	}
}

func TestSourceErrorPassesThrough(t *testing.T) {
	boom := errors.New("connection reset")
	data := []byte("0123456789")
	src := io.MultiReader(bytes.NewReader(data[:5]), iotest.ErrReader(boom))
	v := NewVerifyReader(src, digest.FromBytes(data), 10)
	if _, err := io.ReadAll(v); err != boom {
		t.Fatalf("ReadAll error = %v, want the source error itself", err)
	}
	if err := v.Verify(); err != boom {
		t.Fatalf("Verify = %v, want the source error", err)
	}
}

func TestTrailingCheckError(t *testing.T) {
	boom := errors.New("tar: corrupt header")
	data := []byte("abc")
	src := io.MultiReader(bytes.NewReader(data), iotest.ErrReader(boom))
	v := NewVerifyReader(src, digest.FromBytes(data), 3)
	if _, err := io.ReadAll(v); err != nil {
		t.Fatal(err)
	}
	err := v.Verify()
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "trailing data") {
		t.Fatalf("Verify = %v, want wrapped source error", err)
	}
}

func TestMismatchErrorMessage(t *testing.T) {
	err := error(&MismatchError{Want: "sha256:aa", Got: "sha256:bb"})
	if got, want := err.Error(), "digest mismatch: content hashes to sha256:bb"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
}

func TestDescriptorReader(t *testing.T) {
	data := []byte(`{"schemaVersion":2}`)
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(data), Size: int64(len(data))}
	v := NewDescriptorReader(bytes.NewReader(data), desc)
	if _, err := io.Copy(io.Discard, v); err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(); err != nil {
		t.Fatal(err)
	}
}

func TestCopy(t *testing.T) {
	data := bytes.Repeat([]byte("layer"), 200_000) // 1 MB: several buffer fills
	d := digest.FromBytes(data)
	var dst bytes.Buffer
	n, err := Copy(&dst, bytes.NewReader(data), d, int64(len(data)))
	if err != nil || n != int64(len(data)) || !bytes.Equal(dst.Bytes(), data) {
		t.Fatalf("Copy = %d, %v; copied equal: %v", n, err, bytes.Equal(dst.Bytes(), data))
	}
	bad := flip(data, len(data)-1)
	if _, err := Copy(io.Discard, bytes.NewReader(bad), d, int64(len(data))); !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("Copy of flipped data = %v, want ErrDigestMismatch", err)
	}
	long := append(bytes.Clone(data), 0)
	if _, err := Copy(io.Discard, bytes.NewReader(long), d, int64(len(data))); !errors.Is(err, ErrTrailingData) {
		t.Fatalf("Copy with trailing byte = %v, want ErrTrailingData", err)
	}
}

// zeros yields n zero bytes without holding them in memory.
type zeros struct{ n int64 }

func (z *zeros) Read(p []byte) (int, error) {
	if z.n == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > z.n {
		p = p[:z.n]
	}
	clear(p)
	z.n -= int64(len(p))
	return len(p), nil
}

// Memory must not grow with blob size: a 64 MiB blob costs the same
// allocations as a tiny one.
func TestStreamingMemory(t *testing.T) {
	const size = 64 << 20
	h := NewHashingWriter(nil, "")
	if _, err := io.Copy(h, &zeros{size}); err != nil {
		t.Fatal(err)
	}
	d := h.Digest()
	buf := make([]byte, 32<<10)
	allocs := testing.AllocsPerRun(2, func() {
		v := NewVerifyReader(&zeros{size}, d, size)
		if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{v}, buf); err != nil {
			t.Fatal(err)
		}
		if err := v.Verify(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 20 {
		t.Fatalf("%v allocations verifying a 64 MiB stream, want a small constant", allocs)
	}
}
