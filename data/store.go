package data

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"plp/weights"
)

// Embeddings is one split of the embedding store: what `plp embed` writes and `plp probe`/`plp eval` read.
//
// On disk it is DIR/<dataset>/<model>/<split>.safetensors holding `embeddings` [N,D] float32, `labels` [N]
// int64, and `mean`, `std` [D] float32: the statistics of this split (unbiased std). Normalising a split
// always uses the train split's statistics, as the paper does.
type Embeddings struct {
	N, D   int
	X      []float32 // [N, D]
	Labels []int64
	Mean   []float32
	Std    []float32
	Meta   map[string]string
}

// ModelDirName turns a registry name or config path into the store's folder name: `/` becomes `_` as in the
// paper, and a config file contributes its stem.
func ModelDirName(model string) string {
	if ext := filepath.Ext(model); ext == ".json" {
		return strings.TrimSuffix(filepath.Base(model), ext)
	}
	return strings.ReplaceAll(model, "/", "_")
}

// WeightsKey is the store's model key for embeddings made by one particular checkpoint of a model (a
// fine-tuned encoder, a classifier's logits): kind, the model's folder name and the first 12 hex digits of
// the weights' SHA-256, so that a retrained model never reads another's embeddings.
func WeightsKey(kind, model, weightsSHA256 string) string {
	return fmt.Sprintf("%s_%s_%s", kind, ModelDirName(model), weightsSHA256[:min(12, len(weightsSHA256))])
}

// WeightsSHA256 is the hex SHA-256 of a checkpoint file: the identity of the weights that the store
// records as weights_sha256 and that WeightsKey shortens.
func WeightsSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hashing %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// StorePath is where a split of a dataset's embeddings under a model lives.
func StorePath(dir, dataset, model, split string) string {
	return filepath.Join(dir, ModelDirName(dataset), ModelDirName(model), split+".safetensors")
}

// Stats returns the per-dimension mean and unbiased standard deviation of x [n, d], in float64 sums.
func Stats(x []float32, n, d int) (mean, std []float32) {
	m := make([]float64, d)
	for i := 0; i < n; i++ {
		for j, v := range x[i*d : (i+1)*d] {
			m[j] += float64(v)
		}
	}
	for j := range m {
		m[j] /= float64(n)
	}
	ss := make([]float64, d)
	for i := 0; i < n; i++ {
		for j, v := range x[i*d : (i+1)*d] {
			dv := float64(v) - m[j]
			ss[j] += dv * dv
		}
	}
	mean, std = make([]float32, d), make([]float32, d)
	for j := range m {
		mean[j] = float32(m[j])
		if n > 1 {
			std[j] = float32(math.Sqrt(ss[j] / float64(n-1)))
		} else {
			std[j] = float32(math.NaN())
		}
	}
	return mean, std
}

// SplitMeta returns settings (what identifies the run: model, weights, transform, dataset, ...) with the
// keys that describe a finished split added: count (n), skipped_count and skipped (the JSON list of
// skipped samples, "[]" when none). Every writer of a split builds its metadata here, so that stores
// made in different ways compare byte for byte.
func SplitMeta(settings map[string]string, n int, skipped []Skipped) map[string]string {
	m := maps.Clone(settings)
	if m == nil {
		m = map[string]string{}
	}
	m["count"] = strconv.Itoa(n)
	m["skipped_count"] = strconv.Itoa(len(skipped))
	sk := []byte("[]")
	if len(skipped) > 0 {
		sk, _ = json.Marshal(skipped) // a list of ints and strings always encodes
	}
	m["skipped"] = string(sk)
	return m
}

// WriteEmbeddings stores e at path atomically; Mean and Std are computed from X when nil.
func WriteEmbeddings(path string, e *Embeddings) error {
	ts, err := e.tensors()
	if err != nil {
		return fmt.Errorf("embeddings for %s: %w", path, err)
	}
	return weights.WriteSafetensors(path, ts, e.Meta)
}

// EncodeEmbeddings writes the bytes WriteEmbeddings would store to w; Mean and Std are computed from X
// when nil.
func EncodeEmbeddings(w io.Writer, e *Embeddings) error {
	ts, err := e.tensors()
	if err != nil {
		return fmt.Errorf("embeddings: %w", err)
	}
	return weights.EncodeSafetensors(w, ts, e.Meta)
}

// tensors checks e's sizes, fills in its statistics, and lists its tensors in file order.
func (e *Embeddings) tensors() ([]*weights.Tensor, error) {
	if len(e.X) != e.N*e.D || len(e.Labels) != e.N {
		return nil, fmt.Errorf("%d values and %d labels do not match %d×%d", len(e.X), len(e.Labels), e.N, e.D)
	}
	if e.Mean == nil || e.Std == nil {
		e.Mean, e.Std = Stats(e.X, e.N, e.D)
	}
	return []*weights.Tensor{
		weights.FromFloat32("embeddings", []int{e.N, e.D}, e.X),
		weights.FromInt64("labels", []int{e.N}, e.Labels),
		weights.FromFloat32("mean", []int{e.D}, e.Mean),
		weights.FromFloat32("std", []int{e.D}, e.Std),
	}, nil
}

// ReadEmbeddings loads a split written by WriteEmbeddings, checking names, dtypes and shapes. The returned
// slices are copies: the file is closed on return.
func ReadEmbeddings(path string) (*Embeddings, error) {
	st, err := weights.OpenSafetensors(path)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	get := func(name string, rank int) (*weights.Tensor, error) {
		t, err := st.Tensor(name)
		if err != nil {
			return nil, fmt.Errorf("%s is not an embedding file: %w", path, err)
		}
		if len(t.Shape) != rank {
			return nil, fmt.Errorf("%s: %s has shape %v, want rank %d", path, name, t.Shape, rank)
		}
		return t, nil
	}
	xt, err := get("embeddings", 2)
	if err != nil {
		return nil, err
	}
	lt, err := get("labels", 1)
	if err != nil {
		return nil, err
	}
	e := &Embeddings{N: xt.Shape[0], D: xt.Shape[1], Meta: st.Metadata()}
	if lt.Shape[0] != e.N {
		return nil, fmt.Errorf("%s: %d labels for %d embeddings", path, lt.Shape[0], e.N)
	}
	x, err := xt.Float32()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	e.X = append([]float32(nil), x...)
	if e.Labels, err = lt.Int64(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, s := range []struct {
		name string
		dst  *[]float32
	}{{"mean", &e.Mean}, {"std", &e.Std}} {
		t, err := get(s.name, 1)
		if err != nil {
			return nil, err
		}
		if t.Shape[0] != e.D {
			return nil, fmt.Errorf("%s: %s has %d values for width %d", path, s.name, t.Shape[0], e.D)
		}
		v, err := t.Float32()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		*s.dst = append([]float32(nil), v...)
	}
	return e, nil
}

// Normalized returns (x - mean) / std row by row, with the statistics of another split (the train split).
func (e *Embeddings) Normalized(mean, std []float32) []float32 {
	out := make([]float32, len(e.X))
	for i := 0; i < e.N; i++ {
		for j := 0; j < e.D; j++ {
			out[i*e.D+j] = (e.X[i*e.D+j] - mean[j]) / std[j]
		}
	}
	return out
}

// IntLabels returns the labels as ints.
func (e *Embeddings) IntLabels() []int {
	out := make([]int, len(e.Labels))
	for i, v := range e.Labels {
		out[i] = int(v)
	}
	return out
}
