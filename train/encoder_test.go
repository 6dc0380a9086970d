package train

import (
	"math"
	"strings"
	"testing"

	"plp/convnext"
	"plp/tensor"
	"plp/vit"
	"plp/weights"
)

func allTensors(t *testing.T, st *weights.Safetensors) map[string]*weights.Tensor {
	out := map[string]*weights.Tensor{}
	for _, n := range st.Names() {
		w, err := st.Tensor(n)
		if err != nil {
			t.Fatal(err)
		}
		out[n] = w
	}
	return out
}

func shapeOf(t *testing.T, st weights.Store, name string) []int {
	t.Helper()
	w, err := st.Tensor(name)
	if err != nil {
		t.Fatal(err)
	}
	return w.Shape
}

// relErr is the fixtures' metric: max|G-T| / max|T|.
func relErr(got, want []float32) float64 {
	var e, m float64
	for i := range want {
		e = math.Max(e, math.Abs(float64(got[i])-float64(want[i])))
		m = math.Max(m, math.Abs(float64(want[i])))
	}
	if len(got) != len(want) {
		return math.Inf(1)
	}
	return e / m
}

func fixtureViTConfig() vit.TimmConfig {
	return vit.TimmConfig{ImageSize: 32, PatchSize: 8, Width: 32, Layers: 2, Heads: 2, MLPRatio: 4, Pool: "token", NumClasses: 5, Eps: 1e-6}
}

func fixtureConvNeXtConfig() convnext.Config {
	return convnext.Config{Depths: []int{1, 1, 1, 1}, Dims: []int{8, 16, 32, 64}, ImageSize: 32, NumClasses: 5, Eps: 1e-6}
}

// TestEncoderGradients compares logits, loss and every gradient of the two classifiers with PyTorch's
// float64 autograd (cross-entropy with label smoothing 0.1, mean over the batch).
func TestEncoderGradients(t *testing.T) {
	be := tensor.CPU{}
	for _, c := range []struct {
		name  string
		build func(ws map[string]*weights.Tensor) (Encoder, error)
	}{
		{"vit", func(ws map[string]*weights.Tensor) (Encoder, error) { return NewTimmViT(fixtureViTConfig(), be, ws) }},
		{"convnext", func(ws map[string]*weights.Tensor) (Encoder, error) {
			return NewConvNeXt(fixtureConvNeXtConfig(), be, ws, "")
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := c.build(allTensors(t, openST(t, c.name+"_weights.safetensors")))
			if err != nil {
				t.Fatal(err)
			}
			io := openST(t, c.name+"_grads.safetensors")
			xv, xs := f32(t, io, "input"), shapeOf(t, io, "input")
			lw, err := io.Tensor("labels")
			if err != nil {
				t.Fatal(err)
			}
			l64, err := lw.Int64()
			if err != nil {
				t.Fatal(err)
			}
			labels := make([]int, len(l64))
			for i, v := range l64 {
				labels[i] = int(v)
			}
			tp := NewTape(be)
			x := Input(be.FromHost(xv, xs...))
			_, logits, err := m.Forward(tp, x)
			if err != nil {
				t.Fatal(err)
			}
			loss := tp.CrossEntropy(logits, labels, 0.1)
			tp.Backward(loss)
			const tol = 2e-5
			check := func(name string, got []float32) {
				want := f32(t, io, name)
				if e := relErr(got, want); !(e <= tol) {
					t.Errorf("%s: error %.3g > %g", name, e, tol)
				}
			}
			check("logits", be.ToHost(logits.Value))
			check("loss", be.ToHost(loss.Value))
			check("grad/input", be.ToHost(x.Grad))
			n := 0
			for _, p := range m.Params().List() {
				if p.Grad == nil {
					t.Errorf("%s: no gradient", p.Name)
					continue
				}
				check("grad/"+p.Name, be.ToHost(p.Grad))
				n++
			}
			if n == 0 {
				t.Fatal("no parameters")
			}
		})
	}
}

func TestFreezeBlocks(t *testing.T) {
	be := tensor.CPU{}
	for _, c := range []struct {
		name  string
		build func() (Encoder, error)
		k     int
		want  int
	}{
		// patch_embed (2), cls_token, pos_embed and block 0's 12 tensors.
		{"vit", func() (Encoder, error) {
			return NewTimmViT(fixtureViTConfig(), be, allTensors(t, openST(t, "vit_weights.safetensors")))
		}, 1, 16},
		// stem (4), stage 0 block 0 (9), stage 1's downsample (4) and block 0 (9).
		{"convnext", func() (Encoder, error) {
			return NewConvNeXt(fixtureConvNeXtConfig(), be, allTensors(t, openST(t, "convnext_weights.safetensors")), "")
		}, 2, 26},
	} {
		m, err := c.build()
		if err != nil {
			t.Fatal(err)
		}
		total := len(m.Params().List())
		if got := m.FreezeBlocks(c.k); got != c.want || len(m.Params().Trainable()) != total-c.want {
			t.Errorf("%s: FreezeBlocks(%d) froze %d, want %d", c.name, c.k, got, c.want)
		}
		// Frozen parameters get no gradient; the others still do.
		tp := NewTape(be)
		x := Const(be.Zeros(1, 3, 32, 32))
		_, logits, err := m.Forward(tp, x)
		if err != nil {
			t.Fatal(err)
		}
		tp.Backward(tp.CrossEntropy(logits, []int{1}, 0))
		for _, p := range m.Params().List() {
			if (p.Grad != nil) != p.RequiresGrad() {
				t.Errorf("%s: %s requires grad %v, has gradient %v", c.name, p.Name, p.RequiresGrad(), p.Grad != nil)
			}
		}
	}
}

func TestEncoderBadInput(t *testing.T) {
	be := tensor.CPU{}
	ws := allTensors(t, openST(t, "vit_weights.safetensors"))
	missing := map[string]*weights.Tensor{}
	for k, v := range ws {
		if k != "blocks.1.norm1.bias" {
			missing[k] = v
		}
	}
	if _, err := NewTimmViT(fixtureViTConfig(), be, missing); err == nil || !strings.Contains(err.Error(), "missing blocks.1.norm1.bias") {
		t.Errorf("missing tensor: %v", err)
	}
	wrong := fixtureViTConfig()
	wrong.Width = 48
	wrong.Heads = 3
	if _, err := NewTimmViT(wrong, be, ws); err == nil || !strings.Contains(err.Error(), "shape") {
		t.Errorf("wrong shapes: %v", err)
	}
	bad := fixtureViTConfig()
	bad.Heads = 5
	if _, err := NewTimmViT(bad, be, ws); err == nil {
		t.Error("invalid config: no error")
	}
	m, err := NewTimmViT(fixtureViTConfig(), be, ws)
	if err != nil {
		t.Fatal(err)
	}
	for _, shape := range [][]int{{1, 3, 16, 16}, {1, 1, 32, 32}, {3, 32, 32}, {0, 3, 32, 32}} {
		if _, _, err := m.Forward(NewTape(be), Const(be.Zeros(shape...))); err == nil {
			t.Errorf("input %v: no error", shape)
		}
	}
	cn, err := NewConvNeXt(fixtureConvNeXtConfig(), be, allTensors(t, openST(t, "convnext_weights.safetensors")), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := cn.Forward(NewTape(be), Const(be.Zeros(1, 3, 16, 16))); err == nil {
		t.Error("ConvNeXt input below 32 pixels: no error")
	}
	embed := EncoderEmbed(m)
	x := make([]float32, 3*32*32)
	x[5] = 1.5
	if _, err := Perturb(be, embed, x, []int{1, 3, 32, 32}, be.Zeros(1, 32), [3]float32{}, [3]float32{1, 1, 1}, DefaultAdvConfig(), 0, nil); err == nil {
		t.Error("pixel outside [0, 1]: no error")
	}
}
