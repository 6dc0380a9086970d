package vit

import (
	"testing"

	"plp/tensor"
)

// TestForwardPatches checks GL-MCM's local features against the GL-MCM authors' image tower on the
// quickgelu fixture (testdata/make_glmcm_local.py), and that the embedding is Forward's.
func TestForwardPatches(t *testing.T) {
	be := tensor.CPU{}
	const name = "openclip_vit_quickgelu"
	m, err := Load(fixtureConfig(t, name), be, open(t, fixtureDir+name+".safetensors"), "visual.")
	if err != nil {
		t.Fatal(err)
	}
	io := open(t, fixtureDir+name+"_io.safetensors")
	w, _ := io.Tensor("image")
	v, _ := w.Float32()
	embed, pooled, patches, err := m.ForwardPatches(be.FromHost(v, w.Shape...))
	if err != nil {
		t.Fatal(err)
	}
	ref := open(t, "testdata/glmcm_local.safetensors")
	allclose(t, "global", embed, ref)
	allclose(t, "image_embed_preproj", pooled, io)
	if got := patches.Shape(); len(got) != 3 || got[0] != 3 || got[1] != 16 || got[2] != 32 {
		t.Fatalf("patches %v, want [3 16 32]", got)
	}
	allclose(t, "local", patches.Reshape(3, 4, 4, 32), ref)

	if _, _, _, err := m.ForwardPatches(be.FromHost(make([]float32, 3*32*32), 1, 3, 32, 32)); err == nil {
		t.Error("a 32-pixel image: no error")
	}
}
