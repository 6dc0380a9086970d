package train

import (
	"fmt"
	"sort"
	"strings"

	"plp/tensor"
	"plp/weights"
)

// Params is a model's trainable tensors keyed by checkpoint name. The values are owned copies: optimizers
// update them in place.
type Params struct {
	names  []string
	byName map[string]*Var
}

// loadParams copies every tensor of table (keys relative to prefix) out of ws. Missing, wrongly shaped or
// non-float tensors are reported together; tensors of ws outside the table are ignored (a CLIP checkpoint
// also holds the text tower).
func loadParams(be tensor.Backend, table map[string][]int, ws map[string]*weights.Tensor, prefix string) (*Params, error) {
	p := &Params{byName: map[string]*Var{}}
	var problems []string
	for k, shape := range table {
		name := prefix + k
		w, ok := ws[name]
		if !ok {
			problems = append(problems, "missing "+name)
			continue
		}
		if !tensor.SameShape(w.Shape, shape) {
			problems = append(problems, fmt.Sprintf("%s has shape %v, want %v", name, w.Shape, shape))
			continue
		}
		v, err := w.Float32()
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		p.add(Param(name, be.FromHost(v, shape...)))
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return nil, fmt.Errorf("train: checkpoint does not fit the model: %s", strings.Join(problems, "; "))
	}
	return p, nil
}

func (p *Params) add(v *Var) {
	i := sort.SearchStrings(p.names, v.Name)
	p.names = append(p.names, "")
	copy(p.names[i+1:], p.names[i:])
	p.names[i] = v.Name
	p.byName[v.Name] = v
}

// Get returns the parameter called name (nil if absent).
func (p *Params) Get(name string) *Var { return p.byName[name] }

// List returns the parameters in name order.
func (p *Params) List() []*Var {
	out := make([]*Var, len(p.names))
	for i, n := range p.names {
		out[i] = p.byName[n]
	}
	return out
}

// Trainable returns the parameters that require gradients, in name order.
func (p *Params) Trainable() []*Var {
	var out []*Var
	for _, v := range p.List() {
		if v.requiresGrad {
			out = append(out, v)
		}
	}
	return out
}

// Freeze stops gradients for every parameter whose name satisfies match; it returns how many it froze.
func (p *Params) Freeze(match func(name string) bool) int {
	n := 0
	for _, v := range p.List() {
		if match(v.Name) && v.requiresGrad {
			v.requiresGrad = false
			v.Grad = nil
			n++
		}
	}
	return n
}

// Tensors returns the parameters as safetensors entries (float32, checkpoint names).
func (p *Params) Tensors(be tensor.Backend) []*weights.Tensor {
	var out []*weights.Tensor
	for _, v := range p.List() {
		out = append(out, weights.FromFloat32(v.Name, v.Value.Shape(), be.ToHost(v.Value)))
	}
	return out
}

// TimmNoWeightDecay is the set timm's optimizer factory exempts from weight decay when finetune.py calls
// create_optimizer (filter_bias_and_bn): every parameter of rank ≤ 1 (biases, norm weights, a 1-D class
// embedding) and every name ending in ".bias". finetune.py wraps the encoder and head in nn.Sequential,
// which hides the encoder's no_weight_decay() list, so position embeddings and class tokens of rank > 1
// are decayed.
func (p *Params) TimmNoWeightDecay() map[*Var]bool {
	out := map[*Var]bool{}
	for _, v := range p.List() {
		if v.Value.Rank() <= 1 || strings.HasSuffix(v.Name, ".bias") {
			out[v] = true
		}
	}
	return out
}

// NoWeightDecay is the paper's disable_weight_decay_on_bias_norm set: biases, norm weights, and 1-D
// tensors such as the class token and layer scales.
func (p *Params) NoWeightDecay() map[*Var]bool {
	out := map[*Var]bool{}
	for _, v := range p.List() {
		if v.Value.Rank() <= 1 || strings.HasSuffix(v.Name, ".bias") || strings.Contains(v.Name, "norm") ||
			strings.Contains(v.Name, "ln_") || strings.HasSuffix(v.Name, "cls_token") || strings.HasSuffix(v.Name, "pos_embed") ||
			strings.HasSuffix(v.Name, "class_embedding") || strings.HasSuffix(v.Name, "positional_embedding") {
			out[v] = true
		}
	}
	return out
}
