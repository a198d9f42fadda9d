package main

import (
	"github.com/opencontainers/go-digest"

	"github.com/imgx/imgx/bundle"
)

// layerShippedJSON is one layer of save --layer-recipes --json: how it was shipped, why.
type layerShippedJSON struct {
	Digest      digest.Digest `json:"digest"`
	Base        digest.Digest `json:"base,omitempty"`
	Shipped     string        `json:"shipped"` // "recipe" or "whole"
	RecipeBytes int64         `json:"recipe_bytes"`
	Reason      string        `json:"reason"`
}

// layersDoc describes the layer decisions of a save with layer recipes (nil without).
func layersDoc(layers []bundle.LayerDecision) []layerShippedJSON {
	var out []layerShippedJSON
	for _, l := range layers {
		s := layerShippedJSON{Digest: l.Layer, Base: l.Base, Shipped: "whole", RecipeBytes: l.RecipeSize, Reason: l.Reason}
		if l.Recipe {
			s.Shipped = "recipe"
		}
		out = append(out, s)
	}
	return out
}
