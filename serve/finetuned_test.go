package serve

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"plp/data"
	"plp/train"
	"plp/weights"
	"plp/zoo"
)

// TestReadFinetuned reads `plp finetune` folders laid out as it writes them: the EMA encoder and head are
// chosen when both exist, the last ones otherwise; the transform is found from hp.json's description; and
// broken folders are refused with an error that names the problem.
func TestReadFinetuned(t *testing.T) {
	spec, err := zoo.Resolve(tinyManifest)
	if err != nil {
		t.Fatal(err)
	}
	ckpt, err := os.ReadFile(tinyWeights)
	if err != nil {
		t.Fatal(err)
	}
	size := spec.Config.ImageSize()
	ftDesc := data.DescribeTransform(train.FinetuneTransform(size))
	own, err := data.ModelTransform(spec)
	if err != nil {
		t.Fatal(err)
	}
	head := func(w, b []float32) []*weights.Tensor {
		return []*weights.Tensor{weights.FromFloat32("finetune_head.weight", []int{2, 3}, w),
			weights.FromFloat32("finetune_head.bias", []int{len(b)}, b)}
	}
	last, ema := head([]float32{1, 2, 3, 4, 5, 6}, []float32{7, 8}), head([]float32{-1, -2, -3, -4, -5, -6}, []float32{-7, -8})
	type files struct {
		hp              bool
		transform       string
		model, modelEMA bool
		head, headEMA   []*weights.Tensor
	}
	for _, c := range []struct {
		name    string
		f       files
		weights string // the file chosen; "" when an error is wanted
		bias    float32
		tr      string // the transform's name
		err     string
	}{
		{"ema", files{hp: true, transform: ftDesc, model: true, modelEMA: true, head: last, headEMA: ema}, "model_ema.safetensors", -7, train.FinetuneTransform(size).Name, ""},
		{"no ema", files{hp: true, transform: ftDesc, model: true, head: last}, "model.safetensors", 7, train.FinetuneTransform(size).Name, ""},
		{"model's own transform", files{hp: true, transform: data.DescribeTransform(own), model: true, head: last}, "model.safetensors", 7, own.Name, ""},
		{"no hp.json", files{model: true, head: last}, "", 0, "", "not a plp finetune folder"},
		{"ema encoder without ema head", files{hp: true, transform: ftDesc, model: true, modelEMA: true, head: last}, "", 0, "", "no head_ema.safetensors"},
		{"unfinished", files{hp: true, transform: ftDesc, head: last}, "", 0, "", "has no model.safetensors"},
		{"unknown transform", files{hp: true, transform: "mine: resize 1", model: true, head: last}, "", 0, "", "is none plp knows"},
		{"not a linear head", files{hp: true, transform: ftDesc, model: true, head: head([]float32{1, 2, 3, 4, 5, 6}, []float32{1, 2, 3})}, "", 0, "", "not a linear layer"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if c.f.hp {
				b, _ := json.Marshal(map[string]any{"model": tinyManifest, "dataset": "CIFAR10", "transform": c.f.transform})
				if err := os.WriteFile(filepath.Join(dir, "hp.json"), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			for name, on := range map[string]bool{"model.safetensors": c.f.model, "model_ema.safetensors": c.f.modelEMA} {
				if on {
					if err := os.WriteFile(filepath.Join(dir, name), ckpt, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			for name, ts := range map[string][]*weights.Tensor{"head.safetensors": c.f.head, "head_ema.safetensors": c.f.headEMA} {
				if ts != nil {
					if err := weights.WriteSafetensors(filepath.Join(dir, name), ts, nil); err != nil {
						t.Fatal(err)
					}
				}
			}
			ft, err := ReadFinetuned(dir, "")
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want one saying %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			sum, err := data.WeightsSHA256(tinyWeights)
			if err != nil {
				t.Fatal(err)
			}
			if ft.Weights != filepath.Join(dir, c.weights) || ft.SHA256 != sum || ft.Dataset != "CIFAR10" || ft.Spec.Name != spec.Name {
				t.Errorf("read %+v, want weights %s with sha256 %s", ft, c.weights, sum)
			}
			// Both heads' first weight is their first bias / 7: 1 for the last head, -1 for the EMA one.
			if ft.Head.In != 3 || ft.Head.Classes != 2 || ft.Head.Bias[0] != c.bias || !slices.Equal(ft.Head.Weight[:1], []float32{c.bias / 7}) {
				t.Errorf("head %+v, want the one with bias %v", ft.Head, c.bias)
			}
			if ft.Transform.Name != c.tr || ft.Transform.Crop != size {
				t.Errorf("transform %+v, want %s at %d", ft.Transform, c.tr, size)
			}
			if want := "finetuned_" + data.ModelDirName(spec.Name) + "_" + sum[:12]; ft.StoreKey() != want {
				t.Errorf("store key %q, want %q", ft.StoreKey(), want)
			}
		})
	}
}
