package train

import (
	"fmt"
	"math"
	"math/rand/v2"

	"plp/layers"
	"plp/tensor"
)

// ProbeConfig holds the linear-probe settings of the paper's linear_probing.py.
type ProbeConfig struct {
	Epochs    int     // training length in epochs, used when Steps is 0
	Steps     int     // training length in optimizer steps; overrides Epochs
	Batch     int     // mini-batch size; the last batch of an epoch may be smaller
	LR        float64 // base learning rate of the cosine schedule (warm-up over the first 10% of steps)
	WD        float64 // weight decay (applied to the bias too, as the paper's single parameter group)
	Optimizer string  // "adam", "adamw" or "sgd" (momentum 0.9, Nesterov)
	Seed      uint64  // initialisation and shuffling
	// LabelSmoothing is the cross-entropy smoothing (0 in the paper's probes).
	LabelSmoothing float64
}

// DefaultProbeConfig mirrors the paper's defaults (Adam, lr 1e-3, wd 1e-3, seed 42) with the large
// batches its PLP runs use.
func DefaultProbeConfig() ProbeConfig {
	return ProbeConfig{Epochs: 100, Batch: 8192, LR: 1e-3, WD: 1e-3, Optimizer: "adam", Seed: 42}
}

// Head is a trained linear classifier in PyTorch nn.Linear layout: logits = x·Weightᵀ + Bias.
type Head struct {
	In, Classes int
	Weight      []float32 // [Classes, In]
	Bias        []float32 // [Classes]
}

// NewHead initialises a head as nn.Linear does: weights and bias uniform in ±1/√in.
func NewHead(in, classes int, seed uint64) *Head {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	bound := 1 / math.Sqrt(float64(in))
	h := &Head{In: in, Classes: classes, Weight: make([]float32, in*classes), Bias: make([]float32, classes)}
	for i := range h.Weight {
		h.Weight[i] = float32((2*r.Float64() - 1) * bound)
	}
	for i := range h.Bias {
		h.Bias[i] = float32((2*r.Float64() - 1) * bound)
	}
	return h
}

// Logits computes x [n, In] · Weightᵀ + Bias on be.
func (h *Head) Logits(be tensor.Backend, x []float32, n int) []float32 {
	out := be.Linear(be.FromHost(x, n, h.In), be.FromHost(h.Weight, h.Classes, h.In), be.FromHost(h.Bias, h.Classes))
	return be.ToHost(out)
}

// Accuracy is the fraction of rows whose argmax logit equals the label.
func Accuracy(logits []float32, classes int, labels []int) float64 {
	if len(labels) == 0 {
		return 0
	}
	correct := 0
	for i, y := range labels {
		row := logits[i*classes : (i+1)*classes]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		if best == y {
			correct++
		}
	}
	return float64(correct) / float64(len(labels))
}

// ProbeProgress receives each step's loss; total is the number of steps.
type ProbeProgress func(step, total int, loss float64)

// TrainProbe fits a linear head on x [n, d] with labels y in [0, classes), following the paper's
// train_all_steps: reshuffled mini-batches, the learning rate set from the cosine schedule before every
// step, mean cross-entropy.
func TrainProbe(be tensor.Backend, x []float32, n, d int, y []int, classes int, cfg ProbeConfig, progress ProbeProgress) (*Head, error) {
	switch {
	case n <= 0 || d <= 0 || len(x) != n*d:
		return nil, fmt.Errorf("probe: %d values do not form %d×%d embeddings", len(x), n, d)
	case len(y) != n:
		return nil, fmt.Errorf("probe: %d labels for %d embeddings", len(y), n)
	case classes < 2:
		return nil, fmt.Errorf("probe: need at least 2 classes, got %d", classes)
	case cfg.Batch <= 0:
		return nil, fmt.Errorf("probe: batch size must be positive, got %d", cfg.Batch)
	}
	for i, l := range y {
		if l < 0 || l >= classes {
			return nil, fmt.Errorf("probe: label %d of row %d outside [0,%d)", l, i, classes)
		}
	}
	batch := min(cfg.Batch, n)
	stepsPerEpoch := (n + batch - 1) / batch
	steps := cfg.Steps
	if steps <= 0 {
		if cfg.Epochs <= 0 {
			return nil, fmt.Errorf("probe: set a positive number of epochs or steps")
		}
		steps = stepsPerEpoch * cfg.Epochs
	}
	head := NewHead(d, classes, cfg.Seed)
	w := Param("weight", be.FromHost(head.Weight, classes, d))
	b := Param("bias", be.FromHost(head.Bias, classes))
	params := []*Var{w, b}
	var opt Optimizer
	switch cfg.Optimizer {
	case "adam", "":
		opt = NewAdam(params, AdamConfig{WeightDecay: cfg.WD})
	case "adamw":
		opt = NewAdam(params, AdamConfig{WeightDecay: cfg.WD, Decoupled: true})
	case "sgd":
		opt = NewSGD(params, SGDConfig{Momentum: 0.9, Nesterov: true, WeightDecay: cfg.WD})
	default:
		return nil, fmt.Errorf("probe: unknown optimizer %q (want adam, adamw or sgd)", cfg.Optimizer)
	}
	lrs := CosineSchedule(cfg.LR, 0, steps, 0.1, 0)
	r := rand.New(rand.NewPCG(cfg.Seed, 1))
	perm := make([]int, n)
	xb := make([]float32, batch*d)
	yb := make([]int, batch)
	pos := n // forces a shuffle before the first step
	for step := 0; step < steps; step++ {
		if pos >= n {
			for i := range perm {
				perm[i] = i
			}
			r.Shuffle(n, func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
			pos = 0
		}
		m := min(batch, n-pos)
		for i := 0; i < m; i++ {
			src := perm[pos+i]
			copy(xb[i*d:(i+1)*d], x[src*d:(src+1)*d])
			yb[i] = y[src]
		}
		pos += m
		ZeroGrad(params)
		tp := NewTape(be)
		// On the CPU the batch buffer is used in place: it is refilled only after this step's backward pass.
		loss := tp.CrossEntropy(tp.Linear(Const(layers.Upload(be, xb[:m*d], m, d)), w, b), yb[:m], cfg.LabelSmoothing)
		tp.Backward(loss)
		opt.Step(lrs[step])
		if progress != nil {
			progress(step+1, steps, float64(be.ToHost(loss.Value)[0]))
		}
	}
	head.Weight = be.ToHost(w.Value)
	head.Bias = be.ToHost(b.Value)
	return head, nil
}
