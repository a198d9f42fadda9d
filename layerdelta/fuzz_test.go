package layerdelta

import (
	"bytes"
	"io"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// FuzzRecipeReader feeds arbitrary bytes to the recipe parser: it must return an error
// or a sequence of operations that agrees with its head, never panic or overrun.
// Input that is not a zstd frame is compressed first, so the fuzzer mutates the
// decompressed recipe (head and operations) as well as the compressed stream. Seeds are
// in testdata/fuzz/FuzzRecipeReader.
func FuzzRecipeReader(f *testing.F) {
	f.Add([]byte("IMGXLDR1"))
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !bytes.HasPrefix(data, []byte{0x28, 0xb5, 0x2f, 0xfd}) {
			data = enc.EncodeAll(data, nil)
		}
		rd, err := NewReader(bytes.NewReader(data), Limits{MaxLayerSize: 1 << 20, MaxOps: 1 << 12})
		if err != nil {
			return
		}
		defer rd.Close()
		var out, lit int64
		for {
			op, err := rd.Next()
			if err == io.EOF {
				if out != rd.Meta.Target.TarSize || lit != rd.Meta.Literal {
					t.Fatalf("accepted a recipe producing %d bytes (%d literal), head says %d (%d)", out, lit, rd.Meta.Target.TarSize, rd.Meta.Literal)
				}
				return
			}
			if err != nil {
				return
			}
			if op.Copy {
				b := rd.Meta.Bases[op.Base]
				if op.Offset < 0 || op.N <= 0 || op.Offset+op.N > b.TarSize {
					t.Fatalf("copy outside base: %+v of %d", op, b.TarSize)
				}
			} else {
				n, err := io.Copy(io.Discard, rd)
				if err != nil {
					return
				}
				if n != op.N {
					t.Fatalf("literal of %d bytes yielded %d", op.N, n)
				}
				lit += n
			}
			out += op.N
		}
	})
}
