package serve

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"plp/data"
	"plp/imaging"
	"plp/train"
	"plp/weights"
	"plp/zoo"
)

// Finetuned is a `plp finetune` folder as `plp eval --finetuned` scores it and `plp serve --finetuned`
// serves it: the EMA encoder and head when EMA was on, else the last ones.
type Finetuned struct {
	Spec      *zoo.Spec
	Weights   string // model_ema.safetensors when EMA was on, else model.safetensors
	SHA256    string // of Weights, hex
	Transform imaging.Transform
	Head      *train.Head // head_ema.safetensors with model_ema, else head.safetensors
	Dataset   string      // the ID dataset it was tuned on (hp.json)
}

// finetunedHP is the part of a `plp finetune` hp.json that evaluation and serving need.
type finetunedHP struct {
	Model     string `json:"model"`
	Dataset   string `json:"dataset"`
	Transform string `json:"transform"`
}

// ReadFinetuned reads a `plp finetune` folder: its model (hp.json's, or model when not empty: a model made
// from a config file is named by the file), the weights to score, the transform it was trained with (hp.json
// describes it; it must be the model's own, a named one or train.FinetuneTransform), and the matching head.
func ReadFinetuned(dir, model string) (*Finetuned, error) {
	b, err := os.ReadFile(filepath.Join(dir, "hp.json"))
	if err != nil {
		return nil, fmt.Errorf("%s is not a plp finetune folder (no hp.json): %w", dir, err)
	}
	var hp finetunedHP
	if err := json.Unmarshal(b, &hp); err != nil {
		return nil, fmt.Errorf("%s/hp.json: %w", dir, err)
	}
	if model == "" {
		model = hp.Model
	}
	spec, err := zoo.Resolve(model)
	if err != nil {
		return nil, fmt.Errorf("the model of %s: %w (a model made from a config file needs --model FILE)", dir, err)
	}
	// The EMA model, encoder and head, when EMA was on (the paper's notebook loads model_ema).
	wpath, hpath := filepath.Join(dir, "model_ema.safetensors"), filepath.Join(dir, "head_ema.safetensors")
	if _, err := os.Stat(wpath); err != nil {
		wpath, hpath = filepath.Join(dir, "model.safetensors"), filepath.Join(dir, "head.safetensors")
	} else if _, err := os.Stat(hpath); err != nil {
		return nil, fmt.Errorf("%s has model_ema.safetensors but no head_ema.safetensors (written by an older plp finetune): "+
			"its EMA encoder has no matching head", dir)
	}
	if _, err := os.Stat(wpath); err != nil {
		return nil, fmt.Errorf("%s has no model.safetensors: has the fine-tuning finished?", dir)
	}
	tr, err := describedTransform(spec, hp.Transform)
	if err != nil {
		return nil, fmt.Errorf("%s/hp.json: %w", dir, err)
	}
	head, err := readFinetunedHead(hpath)
	if err != nil {
		return nil, err
	}
	sum, err := data.WeightsSHA256(wpath)
	if err != nil {
		return nil, err
	}
	return &Finetuned{Spec: spec, Weights: wpath, SHA256: sum, Transform: tr, Head: head, Dataset: hp.Dataset}, nil
}

// StoreKey is the model key under which `plp eval --finetuned` caches the fine-tuned encoder's embeddings in
// a store: one per weights file.
func (f *Finetuned) StoreKey() string { return data.WeightsKey("finetuned", f.Spec.Name, f.SHA256) }

// describedTransform finds the transform whose data.DescribeTransform is desc among those `plp finetune`
// can train with: the model's own, the named ones at the model's size, and finetune.py's.
func describedTransform(spec *zoo.Spec, desc string) (imaging.Transform, error) {
	for _, name := range append([]string{""}, imaging.TransformNames()...) {
		t, err := data.TransformFor(spec, name)
		if err == nil && data.DescribeTransform(t) == desc {
			return t, nil
		}
	}
	if t := train.FinetuneTransform(spec.Config.ImageSize()); data.DescribeTransform(t) == desc {
		return t, nil
	}
	return imaging.Transform{}, fmt.Errorf("transform %q is none plp knows", desc)
}

// readFinetunedHead reads the linear head `plp finetune` writes (finetune_head.weight and .bias).
func readFinetunedHead(path string) (*train.Head, error) {
	st, err := weights.Open(path)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	var wt, bt *weights.Tensor
	for _, prefix := range []string{"finetune_head.", "head."} {
		if wt, err = st.Tensor(prefix + "weight"); err == nil {
			if bt, err = st.Tensor(prefix + "bias"); err == nil {
				break
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: no finetune_head.weight and .bias: %w", path, err)
	}
	if len(wt.Shape) != 2 || len(bt.Shape) != 1 || bt.Shape[0] != wt.Shape[0] {
		return nil, fmt.Errorf("%s: weight %v and bias %v are not a linear layer", path, wt.Shape, bt.Shape)
	}
	w, err := wt.Float32()
	if err != nil {
		return nil, err
	}
	bias, err := bt.Float32()
	if err != nil {
		return nil, err
	}
	return &train.Head{In: wt.Shape[1], Classes: wt.Shape[0], Weight: slices.Clone(w), Bias: slices.Clone(bias)}, nil
}
