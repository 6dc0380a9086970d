package data

import (
	"math"
	"path/filepath"
	"slices"
	"testing"

	"plp/tensor"
	"plp/weights"
	"plp/zoo"
)

// TestPatchEncoder encodes the quickgelu fixture's images with patch features: the embedding part of a
// row is ModelEncoder's, the patch part GL-MCM's local features (../vit/testdata/glmcm_local.safetensors,
// from the GL-MCM authors' image tower), and Split, WritePatches and ReadPatches keep them.
func TestPatchEncoder(t *testing.T) {
	m, err := zoo.Load(fixtureModel, fixtureWeights, tensor.CPU{})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := NewModelEncoder(m)
	if err != nil {
		t.Fatal(err)
	}
	pe, err := NewPatchEncoder(enc)
	if err != nil {
		t.Fatal(err)
	}
	if pe.Dim() != 64+16*32 {
		t.Fatalf("row width %d, want 64 + 16·32", pe.Dim())
	}
	read := func(path, name string) []float32 {
		st, err := weights.OpenSafetensors(path)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		x, err := st.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		v, err := x.Float32()
		if err != nil {
			t.Fatal(err)
		}
		return slices.Clone(v)
	}
	img := read("../zoo/testdata/openclip_vit_quickgelu_io.safetensors", "image")
	rows, err := pe.Encode(img, 3)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := enc.Encode(img, 3)
	if err != nil {
		t.Fatal(err)
	}
	emb := &Embeddings{N: 3, D: pe.Dim(), X: rows, Labels: []int64{0, 1, 2}}
	p, err := pe.Split(emb, map[string]string{"split": "test"})
	if err != nil {
		t.Fatal(err)
	}
	if emb.D != 64 || !slices.Equal(emb.X, plain) {
		t.Errorf("embedding part differs from ModelEncoder's (width %d)", emb.D)
	}
	want := read("../vit/testdata/glmcm_local.safetensors", "local")
	for i, w := range want {
		if d := math.Abs(float64(p.X[i] - w)); d > 1e-4+1e-4*math.Abs(float64(w)) {
			t.Fatalf("patches[%d] = %v, want %v", i, p.X[i], w)
		}
	}
	path := PatchesPath(filepath.Join(t.TempDir(), "test.safetensors"))
	if filepath.Base(path) != "test.patches.safetensors" {
		t.Errorf("PatchesPath gives %s", path)
	}
	if err := WritePatches(path, p); err != nil {
		t.Fatal(err)
	}
	back, err := ReadPatches(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.N != 3 || back.P != 16 || back.D != 32 || !slices.Equal(back.X, p.X) || back.Meta["split"] != "test" {
		t.Errorf("read back %d×%d×%d, meta %v", back.N, back.P, back.D, back.Meta)
	}
	if _, err := ReadPatches("../zoo/testdata/openclip_vit_quickgelu_io.safetensors"); err == nil {
		t.Error("a file without patches read as patch features")
	}
}
