package data

import (
	"math"
	"os"
	"path/filepath"
	"testing"
)

func TestEmbeddingStoreRoundTrip(t *testing.T) {
	dir := t.TempDir()
	p := StorePath(dir, "CIFAR10", "openclip_ViT-B-16/openai", "train")
	if want := filepath.Join(dir, "CIFAR10", "openclip_ViT-B-16_openai", "train.safetensors"); p != want {
		t.Fatalf("StorePath = %s, want %s", p, want)
	}
	if got := ModelDirName("/x/y/my_model.json"); got != "my_model" {
		t.Fatalf("ModelDirName of a config = %q", got)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	e := &Embeddings{N: 3, D: 2, X: []float32{1, 10, 2, 20, 4, 40}, Labels: []int64{0, 1, 1}, Meta: map[string]string{"model": "m"}}
	if err := WriteEmbeddings(p, e); err != nil {
		t.Fatal(err)
	}
	got, err := ReadEmbeddings(p)
	if err != nil {
		t.Fatal(err)
	}
	// mean of 1,2,4 = 7/3; unbiased variance = ((1-7/3)^2+(2-7/3)^2+(4-7/3)^2)/2 = 7/3.
	wantMean, wantStd := 7.0/3, math.Sqrt(7.0/3)
	if math.Abs(float64(got.Mean[0])-wantMean) > 1e-6 || math.Abs(float64(got.Std[0])-wantStd) > 1e-6 ||
		math.Abs(float64(got.Std[1])-10*wantStd) > 1e-5 {
		t.Fatalf("stats %v %v, want mean %v std %v", got.Mean, got.Std, wantMean, wantStd)
	}
	if got.N != 3 || got.D != 2 || got.X[5] != 40 || got.Labels[2] != 1 || got.Meta["model"] != "m" {
		t.Fatalf("round trip lost data: %+v", got)
	}
	if err := WriteEmbeddings(p, &Embeddings{N: 2, D: 2, X: []float32{1}, Labels: []int64{0, 0}}); err == nil {
		t.Fatal("mismatched sizes accepted")
	}
	if _, err := ReadEmbeddings(filepath.Join(dir, "missing.safetensors")); err == nil {
		t.Fatal("missing file accepted")
	}
}
