package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"plp/data"
	"plp/weights"
)

// textCache keeps text-tower embeddings of long text lists (neglabel's 70 794 candidate prompts) in the
// embedding store, so that only a model's first run encodes them: <embeds>/text/<model>/<digest>.safetensors
// holds `embeddings` [n, E] float32, with the model, the weights' sha256 and the texts' sha256 as metadata;
// <digest> is the start of the sha256 of the weights' and the texts' digests.
type textCache struct {
	dir, model, weightsPath string
	weightsSHA              string // computed on first use
}

func newTextCache(embeds, model, weightsPath string) *textCache {
	return &textCache{dir: filepath.Join(embeds, "text", data.ModelDirName(model)), model: model, weightsPath: weightsPath}
}

// get returns the cached embeddings of texts, or encodes them with encode and caches them.
func (tc *textCache) get(texts []string, encode func([]string) ([]float32, error)) (rows []float32, cached bool, err error) {
	if tc.weightsSHA == "" {
		if tc.weightsSHA, err = data.WeightsSHA256(tc.weightsPath); err != nil {
			return nil, false, err
		}
	}
	th := sha256.Sum256([]byte(strings.Join(texts, "\n")))
	textsSHA := hex.EncodeToString(th[:])
	key := sha256.Sum256([]byte(tc.weightsSHA + textsSHA))
	path := filepath.Join(tc.dir, hex.EncodeToString(key[:8])+".safetensors")
	meta := map[string]string{"model": tc.model, "weights_sha256": tc.weightsSHA, "texts_sha256": textsSHA, "count": strconv.Itoa(len(texts))}
	if rows, err := readTextCache(path, meta, len(texts)); err == nil {
		return rows, true, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	if rows, err = encode(texts); err != nil {
		return nil, false, err
	}
	if err := os.MkdirAll(tc.dir, 0o755); err != nil {
		return nil, false, err
	}
	e := len(rows) / len(texts)
	if err := weights.WriteSafetensors(path, []*weights.Tensor{weights.FromFloat32("embeddings", []int{len(texts), e}, rows)}, meta); err != nil {
		return nil, false, err
	}
	return rows, false, nil
}

// readTextCache reads a cache file and checks that it was made for meta.
func readTextCache(path string, meta map[string]string, n int) ([]float32, error) {
	st, err := weights.OpenSafetensors(path)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	got := st.Metadata()
	for k, v := range meta {
		if got[k] != v {
			return nil, fmt.Errorf("text cache %s was made with %s %q, not %q: remove it", path, k, got[k], v)
		}
	}
	t, err := st.Tensor("embeddings")
	if err != nil {
		return nil, fmt.Errorf("text cache %s: %w", path, err)
	}
	x, err := t.Float32()
	if err != nil || len(t.Shape) != 2 || t.Shape[0] != n {
		return nil, fmt.Errorf("text cache %s holds %v, want %d rows (%v)", path, t.Shape, n, err)
	}
	return slices.Clone(x), nil
}
