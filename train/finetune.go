package train

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"plp/imaging"
	"plp/tensor"
	"plp/weights"
)

// FinetuneConfig is the paper's finetune.py recipe (DeiT's): AdamW, a per-epoch cosine schedule with a
// linear warm-up, label smoothing, mixup/cutmix, EMA of the weights, gradient clipping, a fresh linear head
// on the encoder's features.
type FinetuneConfig struct {
	Epochs int
	Batch  int // images per optimizer step (split into Batch/Accum micro-batches)
	Accum  int // gradient accumulation: micro-batches per step (1: none)
	Seed   uint64

	LR           float64 // peak learning rate (finetune.py: 5e-4 × batch/512)
	MinLR        float64 // cosine floor (1e-5)
	WarmupLR     float64 // learning rate of epoch 0 (1e-6)
	WarmupEpochs int     // linear warm-up epochs (5)
	WeightDecay  float64 // AdamW decoupled weight decay (0.05)
	// Weight decay applies, by default, to the parameters timm's optimizer factory decays when finetune.py
	// calls it (see Params.TimmNoWeightDecay): not to biases and rank-1 tensors such as norm weights.
	// NoDecayBiasNorm also exempts norms and embeddings by name; DecayAll decays every parameter.
	NoDecayBiasNorm bool
	DecayAll        bool
	Smoothing       float64 // label smoothing (0.1)
	ClipGrad        float64 // max global gradient norm; 0 disables
	FreezeBlocks    int     // freeze the embedding and the first K blocks
	InitScale       float64 // head weights ~ trunc_normal(std 0.02)·InitScale, bias 0 (1)
	EMADecay        float64 // EMA decay per step; 0 disables (0.99996)

	Mixup, Cutmix   float64 // Beta α of mixup and cutmix; 0 disables each (0.8, 1.0)
	MixupSwitchProb float64 // chance of cutmix when both are on (0.5)
	// Augment adds a random resized crop and horizontal flip before normalisation; without it images get
	// Transform (finetune.py itself trains on its eval transform).
	Augment   bool
	Transform imaging.Transform // the model's eval transform: size, interpolation, mean and std
	Classes   int
}

// FinetuneTransform is finetune.py's build_transform(is_train=False, args), which the paper uses for
// training and evaluation of every model alike: the shorter side resized to int(256/224·size) (bicubic),
// a centre crop of size, ImageNet mean and std. `plp finetune` trains with it unless told otherwise.
func FinetuneTransform(size int) imaging.Transform {
	return imaging.Transform{Name: fmt.Sprintf("finetune%d", size), Resize: 256 * size / 224, ResizeMode: imaging.ShorterSide,
		Interp: imaging.Bicubic, Crop: size, Mean: imaging.ImageNetMean, Std: imaging.ImageNetStd}
}

// DefaultFinetuneConfig returns finetune.py's defaults for a given class count.
func DefaultFinetuneConfig(classes int) FinetuneConfig {
	return FinetuneConfig{
		Epochs: 100, Batch: 64, Accum: 1, Seed: 42,
		LR: 5e-4 * 64 / 512, MinLR: 1e-5, WarmupLR: 1e-6, WarmupEpochs: 5, WeightDecay: 0.05,
		Smoothing: 0.1, InitScale: 1, EMADecay: 0.99996,
		Mixup: 0.8, Cutmix: 1.0, MixupSwitchProb: 0.5, Classes: classes,
	}
}

// EpochLR is timm's CosineLRScheduler as finetune.py configures it (per epoch, no warm-up prefix): linear
// from WarmupLR for WarmupEpochs epochs, then MinLR + (LR-MinLR)(1+cos(π·e/Epochs))/2.
func (c FinetuneConfig) EpochLR(e int) float64 {
	if e < c.WarmupEpochs {
		return c.WarmupLR + float64(e)*(c.LR-c.WarmupLR)/float64(c.WarmupEpochs)
	}
	return c.MinLR + 0.5*(c.LR-c.MinLR)*(1+math.Cos(math.Pi*float64(e)/float64(c.Epochs)))
}

func (c FinetuneConfig) validate() error {
	switch {
	case c.Epochs <= 0:
		return fmt.Errorf("train: %d epochs", c.Epochs)
	case c.Batch <= 0 || c.Accum <= 0 || c.Batch%c.Accum != 0:
		return fmt.Errorf("train: batch %d is not a positive multiple of %d accumulation steps", c.Batch, c.Accum)
	case c.Classes < 2:
		return fmt.Errorf("train: %d classes", c.Classes)
	case !(c.LR > 0):
		return fmt.Errorf("train: learning rate %g", c.LR)
	case c.Smoothing < 0 || c.Smoothing >= 1:
		return fmt.Errorf("train: label smoothing %g outside [0, 1)", c.Smoothing)
	case c.EMADecay < 0 || c.EMADecay >= 1:
		return fmt.Errorf("train: EMA decay %g outside [0, 1)", c.EMADecay)
	case c.Mixup < 0 || c.Cutmix < 0:
		return fmt.Errorf("train: negative mixup/cutmix α")
	}
	return nil
}

// Finetuner trains an encoder plus a new linear head.
type Finetuner struct {
	enc    Encoder
	be     tensor.Backend
	cfg    FinetuneConfig
	head   *Params
	params []*Var // trainable, in checkpoint order: encoder then head
	opt    *Adam
	ema    [][]float32 // per entry of all(), nil when EMA is off
	epoch  int         // completed epochs
	losses []float64   // mean training loss per completed epoch
}

// NewFinetuner prepares enc for fine-tuning: it freezes blocks as asked and adds the head
// (head.weight [Classes, FeatureDim], head.bias).
func NewFinetuner(enc Encoder, cfg FinetuneConfig, be tensor.Backend) (*Finetuner, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Transform.Crop != 0 && cfg.Transform.Crop != enc.ImageSize() {
		return nil, fmt.Errorf("train: transform crops %d pixels, the model takes %d", cfg.Transform.Crop, enc.ImageSize())
	}
	enc.FreezeBlocks(cfg.FreezeBlocks)
	d := enc.FeatureDim()
	r := rand.New(rand.NewPCG(cfg.Seed, 0x6865616421))
	w := make([]float32, cfg.Classes*d)
	for i := range w {
		// trunc_normal_(std=.02) cuts at ±2 (absolute), far outside 0.02's range: a plain normal draw.
		v := r.NormFloat64() * 0.02
		for math.Abs(v) > 2 {
			v = r.NormFloat64() * 0.02
		}
		w[i] = float32(v * cfg.InitScale)
	}
	head := &Params{byName: map[string]*Var{}}
	head.add(Param("finetune_head.weight", be.FromHost(w, cfg.Classes, d)))
	head.add(Param("finetune_head.bias", be.Zeros(cfg.Classes)))
	f := &Finetuner{enc: enc, be: be, cfg: cfg, head: head}
	f.params = append(enc.Params().Trainable(), head.List()...)
	adam := AdamConfig{WeightDecay: cfg.WeightDecay, Decoupled: true}
	switch {
	case cfg.NoDecayBiasNorm:
		adam.NoDecay = enc.Params().NoWeightDecay()
		adam.NoDecay[head.Get("finetune_head.bias")] = true
	case !cfg.DecayAll:
		adam.NoDecay = enc.Params().TimmNoWeightDecay()
		adam.NoDecay[head.Get("finetune_head.bias")] = true
	}
	f.opt = NewAdam(f.params, adam)
	if cfg.EMADecay > 0 {
		for _, v := range f.all() {
			f.ema = append(f.ema, be.ToHost(v.Value))
		}
	}
	return f, nil
}

// all lists every parameter (frozen ones included) with the head last.
func (f *Finetuner) all() []*Var { return append(f.enc.Params().List(), f.head.List()...) }

// Epoch is the number of completed epochs.
func (f *Finetuner) Epoch() int { return f.epoch }

// Losses are the mean training losses of the completed epochs.
func (f *Finetuner) Losses() []float64 { return append([]float64(nil), f.losses...) }

// Logits runs the encoder and head on normalized images without recording gradients.
func (f *Finetuner) Logits(x *tensor.Tensor) (*tensor.Tensor, error) {
	tp := NewTape(f.be)
	feat, _, err := f.enc.Forward(tp, Const(x))
	if err != nil {
		return nil, err
	}
	return tp.Linear(feat, f.head.Get("finetune_head.weight"), f.head.Get("finetune_head.bias")).Value, nil
}

// StepStatus reports training progress after each optimizer step.
type StepStatus struct {
	Epoch, Epochs int
	Step, Steps   int // within the epoch
	Loss          float64
	LR            float64
	ImagesPerSec  float64
}

// loadImage prepares sample i for epoch e: augmentation draws from a generator seeded by (seed, epoch,
// index), so a run is reproducible and resumable at any epoch boundary whatever the batch order.
func (f *Finetuner) loadImage(images Images, i, e int) ([]float32, error) {
	img, err := images.Load(i)
	if err != nil {
		return nil, err
	}
	t := f.cfg.Transform
	if !f.cfg.Augment {
		_, chw, err := t.Apply(img)
		return chw, err
	}
	r := rand.New(rand.NewPCG(f.cfg.Seed^0x617567, uint64(e)<<40|uint64(i)))
	crop, err := randomResizedCrop(img, f.enc.ImageSize(), t.Interp, r)
	if err != nil {
		return nil, err
	}
	return imaging.Normalize(crop, t.Mean, t.Std)
}

// RunEpoch trains one epoch over images with labels (true labels or pseudo-labels) and returns its mean
// loss. The sample order is a permutation seeded by (seed, epoch); the last incomplete batch is dropped
// (as finetune.py's loader does) unless the dataset is smaller than one batch.
func (f *Finetuner) RunEpoch(ctx context.Context, images Images, labels []int, progress func(StepStatus)) (float64, error) {
	cfg := f.cfg
	n := images.Len()
	if n == 0 || len(labels) != n {
		return 0, fmt.Errorf("train: %d images with %d labels", n, len(labels))
	}
	for i, l := range labels {
		if l < 0 || l >= cfg.Classes {
			return 0, fmt.Errorf("train: label %d of image %d outside [0,%d)", l, i, cfg.Classes)
		}
	}
	e := f.epoch
	perm := rand.New(rand.NewPCG(cfg.Seed, uint64(e))).Perm(n)
	batch := min(cfg.Batch, n)
	micro := batch / cfg.Accum
	if micro == 0 {
		micro, batch = 1, cfg.Accum
	}
	steps := n / batch
	lr := cfg.EpochLR(e)
	size := f.enc.ImageSize()
	var total float64
	start := time.Now()
	for s := 0; s < steps; s++ {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		var stepLoss float64
		for a := 0; a < cfg.Accum; a++ {
			idx := perm[s*batch+a*micro : s*batch+(a+1)*micro]
			x := make([]float32, 0, len(idx)*3*size*size)
			y := make([]int, len(idx))
			for j, i := range idx {
				chw, err := f.loadImage(images, i, e)
				if err != nil {
					return 0, err
				}
				if len(chw) != 3*size*size {
					return 0, fmt.Errorf("train: image %d preprocesses to %d values, the model takes 3x%dx%d", i, len(chw), size, size)
				}
				x = append(x, chw...)
				y[j] = labels[i]
			}
			tp := NewTape(f.be)
			var soft []float64
			if cfg.Mixup > 0 || cfg.Cutmix > 0 {
				r := rand.New(rand.NewPCG(cfg.Seed^0x6d6978, uint64(e)<<32|uint64(s*cfg.Accum+a)))
				soft = mixBatch(x, len(idx), size, size, y, cfg.Classes, cfg, r)
			}
			feat, _, err := f.enc.Forward(tp, Const(f.be.FromHost(x, len(idx), 3, size, size)))
			if err != nil {
				return 0, err
			}
			logits := tp.Linear(feat, f.head.Get("finetune_head.weight"), f.head.Get("finetune_head.bias"))
			var loss *Var
			if soft != nil {
				loss = tp.SoftCrossEntropy(logits, soft)
			} else {
				loss = tp.CrossEntropy(logits, y, cfg.Smoothing)
			}
			lv := float64(f.be.ToHost(loss.Value)[0])
			if math.IsNaN(lv) || math.IsInf(lv, 0) {
				return 0, fmt.Errorf("train: loss is %v at epoch %d step %d", lv, e, s)
			}
			stepLoss += lv / float64(cfg.Accum)
			if cfg.Accum > 1 {
				loss = tp.Scale(loss, 1/float32(cfg.Accum), 0)
			}
			tp.Backward(loss)
		}
		if cfg.ClipGrad > 0 {
			clipGradNorm(f.params, cfg.ClipGrad)
		}
		f.opt.Step(lr)
		ZeroGrad(f.params)
		if f.ema != nil {
			d := float32(cfg.EMADecay)
			for k, v := range f.all() {
				w, m := tensor.Host(v.Value), f.ema[k]
				for j := range m {
					m[j] = m[j]*d + w[j]*(1-d)
				}
			}
		}
		total += stepLoss
		if progress != nil {
			progress(StepStatus{Epoch: e, Epochs: cfg.Epochs, Step: s + 1, Steps: steps, Loss: stepLoss, LR: lr,
				ImagesPerSec: float64((s+1)*batch) / time.Since(start).Seconds()})
		}
	}
	mean := total / float64(steps)
	f.epoch++
	f.losses = append(f.losses, mean)
	return mean, nil
}

// clipGradNorm is torch.nn.utils.clip_grad_norm_: scale all gradients by max/(norm+1e-6) when their
// global L2 norm exceeds max.
func clipGradNorm(params []*Var, maxNorm float64) float64 {
	var ss float64
	for _, p := range params {
		if p.Grad == nil {
			continue
		}
		for _, g := range tensor.Host(p.Grad) {
			ss += float64(g) * float64(g)
		}
	}
	norm := math.Sqrt(ss)
	if c := maxNorm / (norm + 1e-6); c < 1 {
		for _, p := range params {
			if p.Grad == nil {
				continue
			}
			g := tensor.Host(p.Grad)
			for j := range g {
				g[j] *= float32(c)
			}
		}
	}
	return norm
}

// SoftCrossEntropy is timm's SoftTargetCrossEntropy: mean over rows of Σ_c -q_c log softmax(z)_c, with
// soft targets q [B·C].
func (tp *Tape) SoftCrossEntropy(logits *Var, q []float64) *Var {
	be := tp.be
	B, C := logits.Value.Dim(0), logits.Value.Dim(1)
	if logits.Value.Rank() != 2 || len(q) != B*C {
		panic(fmt.Sprintf("train: SoftCrossEntropy of %v with %d targets", logits.Value.Shape(), len(q)))
	}
	z := be.ToHost(logits.Value)
	probs := make([]float64, B*C)
	var loss float64
	for i := 0; i < B; i++ {
		row := z[i*C : (i+1)*C]
		m := math.Inf(-1)
		for _, v := range row {
			m = math.Max(m, float64(v))
		}
		var s float64
		for _, v := range row {
			s += math.Exp(float64(v) - m)
		}
		lse := m + math.Log(s)
		for c, v := range row {
			logp := float64(v) - lse
			probs[i*C+c] = math.Exp(logp)
			loss -= q[i*C+c] * logp
		}
	}
	loss /= float64(B)
	return tp.record(be.FromHost([]float32{float32(loss)}, 1), func(g *tensor.Tensor) {
		scale := float64(be.ToHost(g)[0]) / float64(B)
		grad := make([]float32, B*C)
		for i := range grad {
			var qs float64
			for c := 0; c < C; c++ {
				qs += q[(i/C)*C+c]
			}
			grad[i] = float32((probs[i]*qs - q[i]) * scale)
		}
		tp.accumulate(logits, be.FromHost(grad, B, C))
	}, logits)
}

// checkpointMeta is the JSON metadata of a training checkpoint.
type checkpointMeta struct {
	Epoch  int            `json:"epoch"`
	Steps  int            `json:"steps"`
	Losses []float64      `json:"losses"`
	Config FinetuneConfig `json:"config"`
}

// SaveCheckpoint writes model ("model/<name>"), EMA ("ema/<name>"), optimizer state ("optim/<name>/...")
// and, in the metadata, the step count, losses and configuration. The file is replaced atomically.
func (f *Finetuner) SaveCheckpoint(path string) error {
	var ts []*weights.Tensor
	for k, v := range f.all() {
		ts = append(ts, weights.FromFloat32("model/"+v.Name, v.Value.Shape(), f.be.ToHost(v.Value)))
		if f.ema != nil {
			ts = append(ts, weights.FromFloat32("ema/"+v.Name, v.Value.Shape(), f.ema[k]))
		}
	}
	for name, buf := range f.opt.State() {
		ts = append(ts, weights.FromFloat32("optim/"+name, []int{len(buf)}, buf))
	}
	meta, err := json.Marshal(checkpointMeta{Epoch: f.epoch, Steps: f.opt.Steps(), Losses: f.losses, Config: f.cfg})
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := weights.WriteSafetensors(tmp, ts, map[string]string{"plp_finetune": string(meta)}); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// LoadCheckpoint restores a checkpoint written by SaveCheckpoint for the same model and configuration
// (epochs may differ, to extend a run).
func (f *Finetuner) LoadCheckpoint(path string) error {
	st, err := weights.OpenSafetensors(path)
	if err != nil {
		return err
	}
	defer st.Close()
	var meta checkpointMeta
	if err := json.Unmarshal([]byte(st.Metadata()["plp_finetune"]), &meta); err != nil {
		return fmt.Errorf("train: %s is not a fine-tuning checkpoint: %v", path, err)
	}
	a, b := meta.Config, f.cfg
	a.Epochs, b.Epochs = 0, 0
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		return fmt.Errorf("train: checkpoint %s was written with another configuration:\n  %s\nnow:\n  %s", path, ja, jb)
	}
	read := func(name string, shape []int) ([]float32, error) {
		w, err := st.Tensor(name)
		if err != nil {
			return nil, err
		}
		if tensor.Numel(w.Shape) != tensor.Numel(shape) {
			return nil, fmt.Errorf("train: checkpoint tensor %s has shape %v, want %v", name, w.Shape, shape)
		}
		return w.Float32()
	}
	for k, v := range f.all() {
		m, err := read("model/"+v.Name, v.Value.Shape())
		if err != nil {
			return err
		}
		copy(tensor.Host(v.Value), m)
		if f.ema != nil {
			e, err := read("ema/"+v.Name, v.Value.Shape())
			if err != nil {
				return err
			}
			copy(f.ema[k], e)
		}
	}
	state := map[string][]float32{}
	for name, buf := range f.opt.State() {
		v, err := read("optim/"+name, []int{len(buf)})
		if err != nil {
			return err
		}
		state[name] = append([]float32(nil), v...)
	}
	if err := f.opt.SetState(state, meta.Steps); err != nil {
		return err
	}
	f.epoch, f.losses = meta.Epoch, meta.Losses
	return nil
}

// ExportWeights writes the tuned encoder as a checkpoint the inference loaders accept: every tensor of
// original (e.g. a CLIP checkpoint's text tower) with the encoder's tensors replaced by their tuned
// values (or their EMA with ema). original may be nil to write the encoder's tensors only. The head goes
// to a separate file (ExportHead).
func (f *Finetuner) ExportWeights(path string, original weights.Store, ema bool) error {
	if ema && f.ema == nil {
		return fmt.Errorf("train: no EMA weights (EMA is off)")
	}
	tuned := map[string]*weights.Tensor{}
	for k, v := range f.enc.Params().List() {
		vals := f.be.ToHost(v.Value)
		if ema {
			vals = f.ema[k]
		}
		tuned[v.Name] = weights.FromFloat32(v.Name, v.Value.Shape(), vals)
	}
	var ts []*weights.Tensor
	if original != nil {
		for _, name := range original.Names() {
			if t, ok := tuned[name]; ok {
				ts = append(ts, t)
				delete(tuned, name)
				continue
			}
			w, err := original.Tensor(name)
			if err != nil {
				return err
			}
			ts = append(ts, w)
		}
	}
	for _, v := range f.enc.Params().List() {
		if t, ok := tuned[v.Name]; ok {
			ts = append(ts, t)
		}
	}
	return weights.WriteSafetensors(path, ts, map[string]string{"plp_finetune_epochs": strconv.Itoa(f.epoch)})
}

// ExportHead writes the classifier head (finetune_head.weight, finetune_head.bias).
func (f *Finetuner) ExportHead(path string) error {
	return weights.WriteSafetensors(path, f.head.Tensors(f.be), nil)
}

// ExportHeadEMA writes the EMA of the classifier head under ExportHead's names: with the EMA encoder of
// ExportWeights it is the whole EMA model, as finetune.py's model_ema (backbone and head) is.
func (f *Finetuner) ExportHeadEMA(path string) error {
	if f.ema == nil {
		return fmt.Errorf("train: no EMA weights (EMA is off)")
	}
	n := len(f.enc.Params().List())
	var ts []*weights.Tensor
	for i, v := range f.head.List() {
		ts = append(ts, weights.FromFloat32(v.Name, v.Value.Shape(), f.ema[n+i]))
	}
	return weights.WriteSafetensors(path, ts, nil)
}

// CheckpointPath is where Finetune keeps its resumable state in out.
func CheckpointPath(out string) string { return filepath.Join(out, "checkpoint.safetensors") }
