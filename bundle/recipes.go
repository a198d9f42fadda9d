package bundle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"slices"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/internal/digestio"
	"github.com/imgx/imgx/layerdelta"
	"github.com/imgx/imgx/oci"
	"github.com/imgx/imgx/store"
)

// Layer recipes (docs/bundle-format.md, "Layer recipes"): format 2.0 with the required
// feature layer-recipes.
const (
	// MediaTypeV2 is the bundle manifest media type of format 2.x.
	MediaTypeV2 = "application/vnd.imgx.bundle.manifest.v2+json"
	// FormatVersionRecipes is the format version of a bundle that carries layer recipes.
	FormatVersionRecipes = "2.0"
	// FeatureLayerRecipes is the required-feature name of layer recipes.
	FeatureLayerRecipes = "layer-recipes"
)

// knownFeatures are the required features this reader implements.
var knownFeatures = map[string]bool{FeatureLayerRecipes: true}

// LayerRecipe ships Layer as the recipe blob Recipe over Bases, layers the receiver
// holds before the bundle (carried by its base chain; a loader checks them with the
// expected blobs, before writing anything).
type LayerRecipe struct {
	Layer  ocispec.Descriptor `json:"layer"`
	Recipe ocispec.Descriptor `json:"recipe"`
	Bases  []digest.Digest    `json:"bases"`
}

// LayerDecision says how a save shipped one layer the receiver lacked, and why.
type LayerDecision struct {
	Layer      digest.Digest
	Base       digest.Digest // the candidate base layer, "" without one
	Recipe     bool          // shipped as a recipe
	RecipeSize int64
	Reason     string
}

// checkRequires refuses a 2.x manifest that names a feature this reader does not
// implement, or none (then it cannot know what the version means).
func checkRequires(version string, req []string) error {
	if len(req) == 0 {
		return fmt.Errorf("%w %.64s without required features (this imgx reads 1.x, and 2.x requiring %s)", ErrVersion, version, FeatureLayerRecipes)
	}
	for _, f := range req {
		if !knownFeatures[f] {
			return fmt.Errorf("%w %.64s: the bundle requires feature %.64q, which this imgx does not support", ErrVersion, version, f)
		}
	}
	return nil
}

// validateRecipes checks the recipes against the blob lists: each recipe blob carried,
// each layer neither carried nor expected, each base expected.
func (m *Manifest) validateRecipes(seen map[digest.Digest]string) error {
	if len(m.Recipes) == 0 {
		return nil
	}
	if !slices.Contains(m.Requires, FeatureLayerRecipes) {
		return malformed("recipes without the required feature %q", FeatureLayerRecipes)
	}
	if m.Base == nil {
		return malformed("recipes in a bundle that names no base")
	}
	blobs := map[digest.Digest]ocispec.Descriptor{}
	for _, d := range m.Blobs {
		blobs[d.Digest] = d
	}
	recipeBlobs := map[digest.Digest]bool{}
	for i, r := range m.Recipes {
		where := fmt.Sprintf("recipe %d", i+1)
		if r.Layer.Digest.Validate() != nil || r.Layer.Digest.Algorithm() != digest.SHA256 || r.Layer.Size < 0 || r.Layer.MediaType == "" {
			return malformed("%s: bad layer descriptor", where)
		}
		if prev, dup := seen[r.Layer.Digest]; dup {
			return malformed("%s: layer %s also listed in %s", where, r.Layer.Digest, prev)
		}
		seen[r.Layer.Digest] = "recipes"
		b, ok := blobs[r.Recipe.Digest]
		if !ok || b.Size != r.Recipe.Size || b.MediaType != layerdelta.MediaType || r.Recipe.MediaType != layerdelta.MediaType {
			return malformed("%s: recipe blob %s is not carried as %s", where, r.Recipe.Digest, layerdelta.MediaType)
		}
		if recipeBlobs[r.Recipe.Digest] {
			return malformed("%s: recipe blob %s used twice", where, r.Recipe.Digest)
		}
		recipeBlobs[r.Recipe.Digest] = true
		if len(r.Bases) == 0 || len(r.Bases) > 16 {
			return malformed("%s: %d base layers", where, len(r.Bases))
		}
		for _, bd := range r.Bases {
			if bd.Validate() != nil || bd.Algorithm() != digest.SHA256 {
				return malformed("%s: base layer %q is not a valid sha256 digest", where, bd)
			}
			if w := seen[bd]; w == "blobs" || w == "recipes" {
				return malformed("%s: base layer %s is in %s: a base must be held before the bundle", where, bd, w)
			}
		}
	}
	for _, d := range m.Blobs {
		if d.MediaType == layerdelta.MediaType && !recipeBlobs[d.Digest] {
			return malformed("recipe blob %s is not used by any recipe", d.Digest)
		}
	}
	return nil
}

// recipeFor returns the recipe whose blob is d.
func (m *Manifest) recipeFor(d digest.Digest) *LayerRecipe {
	for i := range m.Recipes {
		if m.Recipes[i].Recipe.Digest == d {
			return &m.Recipes[i]
		}
	}
	return nil
}

// storeBases opens base layers from the store for layerdelta.Rebuild.
func storeBases(s *store.Store) layerdelta.BaseOpener {
	return func(ctx context.Context, d digest.Digest) (io.ReadCloser, error) {
		f, err := s.Open(ctx, d)
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("%w: %w", fs.ErrNotExist, err)
		}
		return f, err
	}
}

// rebuildLayer reads the recipe entry e (checking its digest), rebuilds its layer from
// the store's layers and stages it in tx, which checks the layer digest again. Nothing
// is staged unless both the recipe and the rebuilt layer verified.
func rebuildLayer(ctx context.Context, s *store.Store, tx *store.Tx, e *blobEntry, r *LayerRecipe, m *Manifest, diffID digest.Digest) error {
	vr := digestio.NewDescriptorReader(e.R, e.Desc)
	if tx.Has(r.Layer.Digest) {
		_, err := io.Copy(io.Discard, vr) // still check the recipe's bytes
		return err
	}
	loadFirst := ""
	if m.Base != nil {
		loadFirst = m.Base.String()
	}
	allowed := map[digest.Digest]bool{}
	for _, b := range r.Bases {
		allowed[b] = true
	}
	pr, pw := io.Pipe()
	go func() {
		meta, err := layerdelta.Rebuild(ctx, vr, storeBases(s), pw, layerdelta.RebuildOptions{
			LoadFirst: loadFirst,
			Expect: func(h *layerdelta.Meta) error {
				if h.Target.Digest != r.Layer.Digest || h.Target.Size != r.Layer.Size {
					return fmt.Errorf("recipe rebuilds %s (%d bytes), the manifest says %s (%d bytes)", h.Target.Digest, h.Target.Size, r.Layer.Digest, r.Layer.Size)
				}
				if diffID != "" && h.Target.DiffID != diffID {
					return fmt.Errorf("recipe rebuilds diff ID %s, the image config says %s", h.Target.DiffID, diffID)
				}
				for _, b := range h.Bases {
					if !allowed[b.Digest] {
						return fmt.Errorf("recipe builds on %s, which the manifest does not list", b.Digest)
					}
				}
				return nil
			},
		})
		_ = meta
		if err == nil {
			_, err = io.Copy(io.Discard, vr) // the rest of the entry, and its digest
		}
		pw.CloseWithError(err)
	}()
	_, err := tx.Put(ctx, pr, r.Layer)
	pr.CloseWithError(errors.New("load stopped"))
	return err
}

// planRecipes decides, for each layer of p's images that the receiver lacks, whether to
// ship a recipe over the same image's previous layer at the same position; it rewrites
// the manifest's blobs, recipes and version accordingly and returns the decisions and
// the recipe files (removed by the caller).
func planRecipes(ctx context.Context, s *store.Store, m *Manifest, since *Base, tmp string) ([]LayerDecision, map[digest.Digest]string, error) {
	files := map[digest.Digest]string{}
	var decisions []LayerDecision
	carried := map[digest.Digest]bool{}
	for _, d := range m.Blobs {
		carried[d.Digest] = true
	}
	held := func(d digest.Digest) bool { return since.Carried[d] && s.Has(d) }
	// readMeta reads a manifest or index blob and checks its digest; nil for what the
	// store no longer holds (no candidate then). The previous image may be known by digest
	// only (a state file's tags), so its bytes are read and checked here.
	readMeta := func(d digest.Digest) []byte {
		f, err := s.Open(ctx, d)
		if err != nil {
			return nil
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, maxMetaBlob+1))
		if err != nil || len(b) > maxMetaBlob || digest.FromBytes(b) != d {
			return nil
		}
		return b
	}
	// layersOf reads the layers of an image by platform: "" for a single manifest, the
	// platform (os/architecture/variant/os.version) of each manifest of an index, so that
	// a multi-platform image saved whole pairs each platform with its own previous layers.
	// A platform listed twice in an index is left out (which previous one is ambiguous).
	layersOf := func(d digest.Digest, mt string) map[string][]ocispec.Descriptor {
		out := map[string][]ocispec.Descriptor{}
		if mt != "" && !oci.IsManifest(mt) && !oci.IsIndex(mt) {
			return out
		}
		b := readMeta(d)
		if b == nil {
			return out
		}
		if mt == "" { // known by digest only: an index lists manifests
			var sniff struct {
				MediaType string            `json:"mediaType"`
				Manifests []json.RawMessage `json:"manifests"`
			}
			if json.Unmarshal(b, &sniff) != nil {
				return out
			}
			if mt = ocispec.MediaTypeImageManifest; sniff.Manifests != nil || oci.IsIndex(sniff.MediaType) {
				mt = ocispec.MediaTypeImageIndex
			}
		}
		if oci.IsManifest(mt) {
			if mf, err := oci.ParseManifest(b); err == nil {
				out[""] = mf.Layers
			}
			return out
		}
		idx, err := oci.ParseIndex(b)
		if err != nil {
			return out
		}
		seen := map[string]bool{}
		for _, md := range idx.Manifests {
			if md.Platform == nil || !oci.IsManifest(md.MediaType) {
				continue
			}
			p := md.Platform
			key := p.OS + "/" + p.Architecture + "/" + p.Variant + "/" + p.OSVersion
			if seen[key] {
				delete(out, key)
				continue
			}
			seen[key] = true
			mb := readMeta(md.Digest)
			if mb == nil {
				continue
			}
			if mf, err := oci.ParseManifest(mb); err == nil {
				out[key] = mf.Layers
			}
		}
		return out
	}
	replace := map[digest.Digest]ocispec.Descriptor{} // layer -> recipe blob
	var recipes []LayerRecipe
	decided := map[digest.Digest]bool{}
	for _, im := range m.Images {
		cur := layersOf(im.Descriptor.Digest, im.Descriptor.MediaType)
		prev := map[string][]ocispec.Descriptor{}
		if pd, ok := since.Images[im.Ref]; ok && im.Ref != "" {
			prev = layersOf(pd.Digest, pd.MediaType)
		}
		var pairs []layerdelta.Pairing
		for _, key := range slices.Sorted(maps.Keys(cur)) { // sorted: the same bundle bytes each time
			pairs = append(pairs, layerdelta.PairLayers(cur[key], prev[key], held)...)
		}
		for _, pr := range pairs {
			l := pr.Layer
			if decided[l.Digest] || !carried[l.Digest] {
				continue
			}
			decided[l.Digest] = true
			dec := LayerDecision{Layer: l.Digest, Reason: pr.Reason}
			if pr.Base == nil {
				decisions = append(decisions, dec)
				continue
			}
			d, err := decideLayer(ctx, s, l, *pr.Base, tmp)
			if err != nil {
				return nil, nil, err
			}
			dec.Base, dec.Recipe, dec.RecipeSize, dec.Reason = d.Base, d.UseRecipe, d.RecipeSize, d.Reason
			decisions = append(decisions, dec)
			if !d.UseRecipe {
				continue
			}
			rd, err := digestFile(d.RecipePath)
			if err != nil {
				return nil, nil, err
			}
			files[rd] = d.RecipePath
			desc := ocispec.Descriptor{MediaType: layerdelta.MediaType, Digest: rd, Size: d.RecipeSize}
			replace[l.Digest] = desc
			recipes = append(recipes, LayerRecipe{Layer: ocispec.Descriptor{MediaType: l.MediaType, Digest: l.Digest, Size: l.Size}, Recipe: desc, Bases: []digest.Digest{pr.Base.Digest}})
		}
	}
	if len(recipes) == 0 {
		return decisions, files, nil
	}
	var blobs []ocispec.Descriptor
	for _, d := range m.Blobs {
		if r, ok := replace[d.Digest]; ok {
			d = r
		}
		blobs = append(blobs, d)
	}
	m.Blobs, m.Recipes = blobs, recipes
	m.MediaType, m.FormatVersion, m.Requires = MediaTypeV2, FormatVersionRecipes, []string{FeatureLayerRecipes}
	return decisions, files, nil
}

func decideLayer(ctx context.Context, s *store.Store, layer, base ocispec.Descriptor, tmp string) (layerdelta.Decision, error) {
	lf, err := s.Open(ctx, layer.Digest)
	if err != nil {
		return layerdelta.Decision{}, err
	}
	defer lf.Close()
	bf, err := s.Open(ctx, base.Digest)
	if err != nil {
		return layerdelta.Decision{}, err
	}
	defer bf.Close()
	return layerdelta.Decide(ctx,
		layerdelta.Input{Digest: layer.Digest, Size: layer.Size, MediaType: layer.MediaType, Blob: lf},
		&layerdelta.Input{Digest: base.Digest, Size: base.Size, MediaType: base.MediaType, Blob: bf}, tmp, 0)
}

func digestFile(p string) (digest.Digest, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return digest.SHA256.FromReader(f)
}

// recipeSource serves recipe blobs from their files and everything else from the store.
type recipeSource struct {
	source
	files map[digest.Digest]string
}

func (r recipeSource) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	if p, ok := r.files[d.Digest]; ok {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		return f, nil
	}
	return r.source.Fetch(ctx, d)
}
