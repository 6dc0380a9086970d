package detect

import (
	"fmt"
	"os"

	"plp/data"
	"plp/eval"
)

// HasPatches reports whether the store holds patch features (plp embed --patch-features) for the ID
// test split and every OOD set of opt (the paper's OOD sets when opt.OOD is empty), which the methods
// that need eval.NeedPatches score.
func HasPatches(opt Options) bool {
	sets := opt.OOD
	if len(sets) == 0 {
		sets = DefaultOOD(opt.Dataset)
	}
	for _, set := range append([]string{opt.Dataset}, sets...) {
		if _, err := os.Stat(data.PatchesPath(data.StorePath(opt.Embeds, set, opt.Model, "test"))); err != nil {
			return false
		}
	}
	return true
}

// patches reads the patch features of a set's test split, which must belong to its embeddings e.
func (in *inputs) patches(set string, e *data.Embeddings) ([]float32, error) {
	path := data.PatchesPath(data.StorePath(in.opt.Embeds, set, in.opt.Model, "test"))
	p, err := data.ReadPatches(path)
	if err != nil {
		return nil, fmt.Errorf("%s patch features (make them with `plp embed --dataset %s --split test --patch-features`): %w", set, set, err)
	}
	for _, k := range []string{"weights_sha256", "transform", "count"} {
		if p.Meta[k] != e.Meta[k] {
			return nil, fmt.Errorf("%s was made with %s %q, its split with %q: embed both again with --patch-features", path, k, p.Meta[k], e.Meta[k])
		}
	}
	if p.N != e.N || (in.src.Text != nil && p.D != in.src.Text.EmbedDim) {
		return nil, fmt.Errorf("%s holds %d images of width %d for %d embeddings", path, p.N, p.D, e.N)
	}
	return p.X, nil
}

// needsPatches reports whether a selected method scores patch features.
func (opt Options) needsPatches() bool {
	for _, s := range opt.Methods {
		if s.Method.Needs&eval.NeedPatches != 0 {
			return true
		}
	}
	return false
}
