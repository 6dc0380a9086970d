package train

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"plp/imaging"
	"plp/tensor"
	"plp/weights"
)

// cifarBin is one CIFAR-10 binary batch (label byte + 3072 planar RGB bytes per record).
type cifarBin struct {
	imgs   []*imaging.RGB
	labels []int
}

func readCIFARBin(t *testing.T) *cifarBin {
	t.Helper()
	b, err := os.ReadFile("testdata/cifar_batch.bin")
	if err != nil {
		t.Fatal(err)
	}
	const rec = 1 + 3072
	if len(b)%rec != 0 {
		t.Fatalf("cifar batch of %d bytes", len(b))
	}
	c := &cifarBin{}
	for o := 0; o < len(b); o += rec {
		img := imaging.NewRGB(32, 32)
		for p := 0; p < 1024; p++ {
			for ch := 0; ch < 3; ch++ {
				img.Pix[p*3+ch] = b[o+1+ch*1024+p]
			}
		}
		c.imgs = append(c.imgs, img)
		c.labels = append(c.labels, int(b[o]))
	}
	return c
}

func (c *cifarBin) Len() int { return len(c.imgs) }
func (c *cifarBin) Load(i int) (*imaging.RGB, error) {
	m := c.imgs[i]
	return &imaging.RGB{W: m.W, H: m.H, Pix: append([]uint8(nil), m.Pix...)}, nil
}

func testTransform() imaging.Transform {
	return imaging.Transform{Name: "test32", Resize: 32, ResizeMode: imaging.ShorterSide, Interp: imaging.Bicubic, Crop: 32,
		Mean: imaging.OpenAIMean, Std: imaging.OpenAIStd}
}

func fixtureViT(t *testing.T) *ViT {
	t.Helper()
	m, err := NewTimmViT(fixtureViTConfig(), tensor.CPU{}, allTensors(t, openST(t, "vit_weights.safetensors")))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func smallConfig() FinetuneConfig {
	cfg := DefaultFinetuneConfig(10)
	cfg.Epochs, cfg.Batch, cfg.LR, cfg.WarmupEpochs, cfg.WarmupLR = 6, 5, 3e-3, 1, 1e-4
	cfg.Mixup, cfg.Cutmix, cfg.Augment = 0, 0, false
	cfg.EMADecay = 0.9
	cfg.ClipGrad = 5
	cfg.Transform = testTransform()
	return cfg
}

func paramsOf(f *Finetuner) map[string][]float32 {
	out := map[string][]float32{}
	for _, v := range f.all() {
		out[v.Name] = tensor.CPU{}.ToHost(v.Value)
	}
	return out
}

func sameParams(t *testing.T, a, b map[string][]float32) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d vs %d parameters", len(a), len(b))
	}
	for k, va := range a {
		vb := b[k]
		for i := range va {
			if va[i] != vb[i] {
				t.Fatalf("%s[%d]: %v vs %v", k, i, va[i], vb[i])
			}
		}
	}
}

func TestFinetuneLossDecreases(t *testing.T) {
	ds := readCIFARBin(t)
	cfg := smallConfig()
	cfg.Epochs = 8
	f, err := NewFinetuner(fixtureViT(t), cfg, tensor.CPU{})
	if err != nil {
		t.Fatal(err)
	}
	for e := 0; e < f.cfg.Epochs; e++ {
		if _, err := f.RunEpoch(context.Background(), ds, ds.labels, nil); err != nil {
			t.Fatal(err)
		}
	}
	l := f.Losses()
	for i := 1; i < len(l); i++ {
		if !(l[i] < l[i-1]) {
			t.Fatalf("epoch losses %v do not decrease at epoch %d", l, i)
		}
	}
	if !(l[len(l)-1] < 0.8*l[0]) {
		t.Fatalf("epoch losses %v: the last is not 20%% below the first", l)
	}
}

// TestFinetuneReproducibleAndResumable runs the full recipe (augmentation, mixup/cutmix, accumulation,
// EMA, clipping, frozen block) twice with one seed, and once interrupted after two epochs and resumed from
// the checkpoint: all three must end with bit-identical weights.
func TestFinetuneReproducibleAndResumable(t *testing.T) {
	ds := readCIFARBin(t)
	cfg := smallConfig()
	cfg.Epochs, cfg.Batch, cfg.Augment, cfg.Mixup, cfg.Cutmix, cfg.Accum, cfg.FreezeBlocks, cfg.NoDecayBiasNorm = 3, 4, true, 0.8, 1.0, 2, 1, true
	run := func(epochs int, resume string) *Finetuner {
		f, err := NewFinetuner(fixtureViT(t), cfg, tensor.CPU{})
		if err != nil {
			t.Fatal(err)
		}
		if resume != "" {
			if err := f.LoadCheckpoint(resume); err != nil {
				t.Fatal(err)
			}
		}
		for f.Epoch() < epochs {
			if _, err := f.RunEpoch(context.Background(), ds, ds.labels, nil); err != nil {
				t.Fatal(err)
			}
		}
		return f
	}
	a, b := run(3, ""), run(3, "")
	sameParams(t, paramsOf(a), paramsOf(b))
	if frozen := a.enc.Params().Get("blocks.0.attn.qkv.weight"); frozen.RequiresGrad() {
		t.Fatal("block 0 is not frozen")
	}

	ckpt := filepath.Join(t.TempDir(), "ckpt.safetensors")
	half := run(2, "")
	if err := half.SaveCheckpoint(ckpt); err != nil {
		t.Fatal(err)
	}
	c := run(3, ckpt)
	sameParams(t, paramsOf(a), paramsOf(c))
	for k := range a.ema {
		for i := range a.ema[k] {
			if a.ema[k][i] != c.ema[k][i] {
				t.Fatalf("EMA %d differs after resume", k)
			}
		}
	}
	if fmt.Sprint(a.Losses()) != fmt.Sprint(c.Losses()) {
		t.Fatalf("losses %v vs resumed %v", a.Losses(), c.Losses())
	}

	// The export loads back into the inference family with the original key names.
	out := filepath.Join(t.TempDir(), "tuned.safetensors")
	if err := a.ExportWeights(out, nil, false); err != nil {
		t.Fatal(err)
	}
	st := openSTPath(t, out)
	m, err := NewTimmViT(fixtureViTConfig(), tensor.CPU{}, allTensors(t, st))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range m.Params().List() {
		want := tensor.Host(a.enc.Params().Get(v.Name).Value)
		got := tensor.Host(v.Value)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("exported %s differs", v.Name)
			}
		}
	}
}

func TestFinetuneBadInput(t *testing.T) {
	ds := readCIFARBin(t)
	cfg := smallConfig()
	for _, c := range []struct {
		name string
		edit func(*FinetuneConfig)
	}{
		{"zero epochs", func(c *FinetuneConfig) { c.Epochs = 0 }},
		{"batch not a multiple of accum", func(c *FinetuneConfig) { c.Batch, c.Accum = 5, 3 }},
		{"one class", func(c *FinetuneConfig) { c.Classes = 1 }},
		{"smoothing 1", func(c *FinetuneConfig) { c.Smoothing = 1 }},
		{"wrong crop", func(c *FinetuneConfig) { c.Transform.Crop = 64 }},
	} {
		bad := cfg
		c.edit(&bad)
		if _, err := NewFinetuner(fixtureViT(t), bad, tensor.CPU{}); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	f, err := NewFinetuner(fixtureViT(t), cfg, tensor.CPU{})
	if err != nil {
		t.Fatal(err)
	}
	labels := append([]int(nil), ds.labels...)
	labels[3] = 10
	if _, err := f.RunEpoch(context.Background(), ds, labels, nil); err == nil {
		t.Error("label out of range: no error")
	}
	if _, err := f.RunEpoch(context.Background(), ds, labels[:5], nil); err == nil {
		t.Error("label count mismatch: no error")
	}
	bogus := filepath.Join(t.TempDir(), "x.safetensors")
	if err := weights.WriteSafetensors(bogus, []*weights.Tensor{weights.FromFloat32("a", []int{1}, []float32{1})}, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.LoadCheckpoint(bogus); err == nil {
		t.Error("foreign checkpoint: no error")
	}
}

func openSTPath(t *testing.T, path string) *weights.Safetensors {
	t.Helper()
	s, err := weights.OpenSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
