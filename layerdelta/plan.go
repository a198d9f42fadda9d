package layerdelta

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Pairing is a layer the receiver lacks and the layer it most likely replaces: the same
// image's previous layer at the same position, when the receiver holds it.
type Pairing struct {
	Layer ocispec.Descriptor
	Base  *ocispec.Descriptor // nil: no candidate, see Reason
	// Reason says why there is no candidate.
	Reason string
}

// PairLayers pairs each layer of newLayers the receiver does not hold with the layer at
// the same position of oldLayers (the same image name's previous manifest), when the
// receiver holds that one. Layers the receiver holds are left out.
func PairLayers(newLayers, oldLayers []ocispec.Descriptor, held func(digest.Digest) bool) []Pairing {
	var out []Pairing
	for i, l := range newLayers {
		if held(l.Digest) {
			continue
		}
		p := Pairing{Layer: l}
		switch {
		case i >= len(oldLayers):
			p.Reason = "no previous layer at this position"
		case !held(oldLayers[i].Digest):
			p.Reason = fmt.Sprintf("previous layer %s is not held by the receiver", oldLayers[i].Digest)
		default:
			b := oldLayers[i]
			p.Base = &b
		}
		out = append(out, p)
	}
	return out
}

// DefaultThreshold is the largest recipe, as a fraction of the layer, worth shipping
// instead of the layer: above it the receiver's rebuild time buys too little.
const DefaultThreshold = 0.5

// Decision is what to ship for one layer, with the reason (for save --json).
type Decision struct {
	Layer      digest.Digest
	Base       digest.Digest // "" without a candidate
	UseRecipe  bool
	Reason     string
	RecipeSize int64
	Params     *Params
	// RecipePath holds the recipe when UseRecipe; the caller removes it.
	RecipePath string
}

// Decide builds a recipe for target over base into a file in dir and keeps it when it is
// smaller than threshold (0 = [DefaultThreshold]) times the layer. A layer that cannot be
// shipped as a recipe is not an error: the decision says why it goes whole. Errors are
// failures to read the layers or write the file.
func Decide(ctx context.Context, target Input, base *Input, dir string, threshold float64) (Decision, error) {
	d := Decision{Layer: target.Digest}
	if threshold <= 0 {
		threshold = DefaultThreshold
	}
	if base == nil {
		d.Reason = "no base layer to build on"
		return d, nil
	}
	d.Base = base.Digest
	f, err := os.CreateTemp(dir, "recipe-*")
	if err != nil {
		return d, err
	}
	keep := false
	defer func() {
		f.Close()
		if !keep {
			os.Remove(f.Name())
		}
	}()
	res, err := Build(ctx, target, []Input{*base}, f, BuildOptions{TempDir: dir})
	if errors.Is(err, ErrNotReproducible) {
		d.Reason = "compressor not reproducible: " + err.Error()
		return d, nil
	}
	if err != nil {
		return d, err
	}
	d.RecipeSize, d.Params = res.RecipeSize, &res.Params
	frac := float64(res.RecipeSize) / float64(max(target.Size, 1))
	if frac >= threshold {
		d.Reason = fmt.Sprintf("recipe of %d bytes is %.0f%% of the layer (threshold %.0f%%)", res.RecipeSize, 100*frac, 100*threshold)
		return d, nil
	}
	d.UseRecipe, keep, d.RecipePath = true, true, f.Name()
	d.Reason = fmt.Sprintf("recipe of %d bytes (%s, %s) is %.1f%% of the layer", res.RecipeSize, res.Meta.Method, res.Params, 100*frac)
	return d, nil
}
