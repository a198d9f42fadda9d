package layerdelta

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// fixture is a base layer, a rebuilt layer and a valid recipe between them.
type fixture struct {
	base, target []byte
	recipe       []byte
	meta         Meta
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	baseTar := makeTar(t, baseFiles(), time.Unix(1700000000, 0))
	newTar := makeTar(t, changedFiles(), time.Unix(1700086400, 0))
	gz := Params{Compressor: CompKlauspostGz, Level: -1}
	f := fixture{base: compress(t, gz, baseTar), target: compress(t, gz, newTar)}
	var rec bytes.Buffer
	res, err := Build(context.Background(), input(f.target), []Input{input(f.base)}, &rec, BuildOptions{TempDir: t.TempDir(), Method: "file"})
	if err != nil {
		t.Fatal(err)
	}
	f.recipe, f.meta = rec.Bytes(), res.Meta
	return f
}

// rewrite decodes a recipe and encodes it again with edit applied to the head and
// literal bytes passed through mutate; counts are recomputed unless keepCounts.
func rewrite(t *testing.T, recipe []byte, edit func(*Meta), mutate func([]byte)) []byte {
	t.Helper()
	rd, err := NewReader(bytes.NewReader(recipe), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	m := rd.Meta
	type rop struct {
		Op
		lit []byte
	}
	var ops []rop
	for {
		op, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		o := rop{Op: op}
		if !op.Copy {
			o.lit, _ = io.ReadAll(rd)
			if mutate != nil {
				mutate(o.lit)
			}
		}
		ops = append(ops, o)
	}
	if edit != nil {
		edit(&m)
	}
	var out bytes.Buffer
	w, err := NewWriter(&out, m)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range ops {
		if o.Copy {
			w.Copy(o.Base, o.Offset, o.N)
		} else {
			_ = w.Literal(bytes.NewReader(o.lit), o.N)
		}
	}
	_ = w.Close() // counts may disagree on purpose
	return out.Bytes()
}

// rebuild runs Rebuild and checks it left nothing in its temp dir, whatever happened.
func rebuild(t *testing.T, recipe []byte, open BaseOpener) (*bytes.Buffer, error) {
	t.Helper()
	var out bytes.Buffer
	tmp := t.TempDir()
	_, err := Rebuild(context.Background(), bytes.NewReader(recipe), open, &out, RebuildOptions{TempDir: tmp, LoadFirst: "nightly-41.imgx"})
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("Rebuild left %d entries in its temp dir", len(ents))
	}
	return &out, err
}

func TestHostileRecipeMissingBase(t *testing.T) {
	f := newFixture(t)
	_, err := rebuild(t, f.recipe, opener()) // the store holds nothing
	var mb *MissingBaseError
	if !errors.As(err, &mb) {
		t.Fatalf("got %v, want MissingBaseError", err)
	}
	if mb.Layer != digest.FromBytes(f.base) || !strings.Contains(err.Error(), "load nightly-41.imgx first") || !strings.Contains(err.Error(), f.base2()) {
		t.Fatalf("error does not name the base layer and the bundle to load: %v", err)
	}
}

func (f fixture) base2() string { return digest.FromBytes(f.base).String() }

func TestHostileRecipe(t *testing.T) {
	f := newFixture(t)
	other := compress(t, Params{Compressor: CompKlauspostGz, Level: -1}, makeTar(t, changedFiles(), time.Unix(1, 0)))
	cases := []struct {
		name   string
		recipe []byte
		open   BaseOpener
		want   error
	}{
		{"rebuilds different bytes", rewrite(t, f.recipe, nil, func(b []byte) { b[len(b)/2] ^= 1 }), opener(f.base), ErrMismatch},
		{"claims another target digest", rewrite(t, f.recipe, func(m *Meta) { m.Target.Digest = digest.FromBytes(other) }, nil), opener(f.base), ErrMismatch},
		{"base is not the layer it claims", f.recipe, func(ctx context.Context, d digest.Digest) (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(other)), nil
		}, ErrMismatch},
		{"forged compressor level", rewrite(t, f.recipe, func(m *Meta) { m.Params.Level = 42 }, nil), opener(f.base), ErrParams},
		{"unknown compressor", rewrite(t, f.recipe, func(m *Meta) { m.Params.Compressor = "xz" }, nil), opener(f.base), ErrParams},
		{"zstd option on gzip", rewrite(t, f.recipe, func(m *Meta) { m.Params.Concurrency = 64 }, nil), opener(f.base), ErrParams},
		{"other compressor level", rewrite(t, f.recipe, func(m *Meta) { m.Params.Level = 1 }, nil), opener(f.base), ErrMismatch},
		{"cyclic: base is the target", rewrite(t, f.recipe, func(m *Meta) { m.Bases[0].Digest = m.Target.Digest }, nil), opener(f.base), ErrMalformed},
		{"oversized target", rewrite(t, f.recipe, func(m *Meta) { m.Target.TarSize = 1 << 50 }, nil), opener(f.base), ErrMalformed},
		{"more ops than declared", rewrite(t, f.recipe, func(m *Meta) { m.Ops-- }, nil), opener(f.base), ErrMalformed},
		{"fewer literal bytes declared", rewrite(t, f.recipe, func(m *Meta) { m.Literal -= 10 }, nil), opener(f.base), ErrMalformed},
		// The base is checked against its claimed size before any operation is read.
		{"base smaller than copies", rewrite(t, f.recipe, func(m *Meta) { m.Bases[0].TarSize = 1024 }, nil), opener(f.base), ErrMismatch},
		{"too many bases", rewrite(t, f.recipe, func(m *Meta) {
			for range 20 {
				m.Bases = append(m.Bases, m.Bases[0])
			}
		}, nil), opener(f.base), ErrMalformed},
		{"truncated", f.recipe[:len(f.recipe)/2], opener(f.base), ErrMalformed},
		{"not a recipe", []byte("hello"), opener(f.base), ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := rebuild(t, c.recipe, c.open)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

// Limits set by the caller bind: a store that will not take a layer over 1 MiB
// refuses the recipe before reading the bases.
func TestHostileRecipeCallerLimits(t *testing.T) {
	f := newFixture(t)
	_, err := Rebuild(context.Background(), bytes.NewReader(f.recipe), opener(f.base), io.Discard,
		RebuildOptions{TempDir: t.TempDir(), Limits: Limits{MaxLayerSize: 1 << 10}})
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("got %v", err)
	}
	_, err = Rebuild(context.Background(), bytes.NewReader(f.recipe), opener(f.base), io.Discard,
		RebuildOptions{TempDir: t.TempDir(), Limits: Limits{MaxOps: 3}})
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("got %v", err)
	}
}
