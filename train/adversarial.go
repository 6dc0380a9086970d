package train

import (
	"fmt"
	"math"
	"math/rand/v2"

	"plp/tensor"
)

// AdvConfig holds the feature-space adversarial attack of the paper's notebook
// (clip-ood-adversarial-examples.ipynb): Adam on a perturbation p of each source image, clamped so that
// x+p stays in [0, 1], maximising the cosine similarity of the embedding of x+p to a target image's
// embedding, with an optional smoothness penalty on p's image gradients.
type AdvConfig struct {
	Steps        int     // Adam steps per batch (notebook: 250)
	LR           float64 // Adam learning rate (1e-3)
	InitScale    float64 // p starts as N(0, 1)·InitScale, clamped (1e-3)
	SmoothLambda float64 // weight of the smoothness penalty (5e3; 0 gives the "patchy" examples)
	Seed         uint64
}

// DefaultAdvConfig returns the notebook's settings.
func DefaultAdvConfig() AdvConfig {
	return AdvConfig{Steps: 250, LR: 1e-3, InitScale: 1e-3, SmoothLambda: 5e3}
}

// EmbedFunc maps normalized images [B, 3, S, S] to embeddings [B, D] on a tape.
type EmbedFunc func(tp *Tape, x *Var) (*Var, error)

// Normalize is torchvision's Normalize(mean, std) on the tape: x [B, 3, H, W] in [0, 1].
func (tp *Tape) Normalize(x *Var, mean, std [3]float32) *Var {
	be := tp.be
	var inv, shift [3]float32
	for c := range inv {
		inv[c] = 1 / std[c]
		shift[c] = -mean[c] / std[c]
	}
	y := tp.Mul(x, Const(be.FromHost(inv[:], 3, 1, 1)))
	return tp.Add(y, Const(be.FromHost(shift[:], 3, 1, 1)))
}

// Smoothness is mean(dy²) + mean(dx²) of torchmetrics' image_gradients(p) for p [B, C, H, W]: forward
// differences along the height and width, whose means run over all B·C·H·W entries (the last row and
// column count as zero differences).
func (tp *Tape) Smoothness(p *Var) *Var {
	s := p.Value.Shape()
	H, W := s[2], s[3]
	n := float32(p.Value.Numel())
	var terms []*Var
	if H > 1 {
		dy := tp.Sub(tp.Slice(p, 2, 1, H), tp.Slice(p, 2, 0, H-1))
		terms = append(terms, tp.Sum(tp.Mul(dy, dy)))
	}
	if W > 1 {
		dx := tp.Sub(tp.Slice(p, 3, 1, W), tp.Slice(p, 3, 0, W-1))
		terms = append(terms, tp.Sum(tp.Mul(dx, dx)))
	}
	if len(terms) == 0 {
		return Const(tp.be.Zeros(1))
	}
	sum := terms[0]
	if len(terms) == 2 {
		sum = tp.Add(terms[0], terms[1])
	}
	return tp.Scale(sum, 1/n, 0)
}

// AdversarialLoss is the notebook's loss for clean images x [B, 3, S, S] in [0, 1] and perturbation p:
// -mean_b cos(embed(norm(x+p))_b, target_b) + λ·Smoothness(p). It also returns the two terms.
func (tp *Tape) AdversarialLoss(embed EmbedFunc, x, p *Var, target *Var, mean, std [3]float32, lambda float64) (loss, cosTerm, smoothTerm *Var, err error) {
	f, err := embed(tp, tp.Normalize(tp.Add(x, p), mean, std))
	if err != nil {
		return nil, nil, nil, err
	}
	if !tensor.SameShape(f.Value.Shape(), target.Value.Shape()) {
		return nil, nil, nil, fmt.Errorf("train: embeddings %v and targets %v differ in shape", f.Value.Shape(), target.Value.Shape())
	}
	cosTerm = tp.Scale(tp.Mean(tp.CosineSimilarity(f, target)), -1, 0)
	smoothTerm = tp.Scale(tp.Smoothness(p), float32(lambda), 0)
	return tp.Add(cosTerm, smoothTerm), cosTerm, smoothTerm, nil
}

// AdvResult is the outcome of Perturb for one batch.
type AdvResult struct {
	Perturbation []float32 // [B, 3, S, S]
	Similarity   []float64 // final cosine similarity to the target, per image
	Smooth       float64   // final Smoothness(p), without λ
}

// Perturb runs the attack on one batch: x [B, 3, S, S] in [0, 1], target embeddings [B, D]. embed must
// not need parameter gradients (freeze the encoder: Params.Freeze). progress, if not nil, gets the mean
// similarity after each step.
func Perturb(be tensor.Backend, embed EmbedFunc, x []float32, shape []int, target *tensor.Tensor, mean, std [3]float32, cfg AdvConfig, batchSeed uint64, progress func(step int, sim float64)) (*AdvResult, error) {
	if len(shape) != 4 || shape[1] != 3 || tensor.Numel(shape) != len(x) {
		return nil, fmt.Errorf("train: images %v with %d values", shape, len(x))
	}
	if cfg.Steps < 0 || !(cfg.LR > 0) {
		return nil, fmt.Errorf("train: %d steps at learning rate %g", cfg.Steps, cfg.LR)
	}
	for _, v := range x {
		if !(v >= 0 && v <= 1) {
			return nil, fmt.Errorf("train: source pixel %v outside [0, 1]", v)
		}
	}
	r := rand.New(rand.NewPCG(cfg.Seed, batchSeed))
	p0 := make([]float32, len(x))
	for i := range p0 {
		p0[i] = float32(r.NormFloat64() * cfg.InitScale)
	}
	clamp(p0, x)
	p := Param("perturbation", be.FromHost(p0, shape...))
	xv := Const(be.FromHost(x, shape...))
	tv := Const(target)
	opt := NewAdam([]*Var{p}, AdamConfig{})
	for s := 0; s < cfg.Steps; s++ {
		tp := NewTape(be)
		loss, cosTerm, _, err := tp.AdversarialLoss(embed, xv, p, tv, mean, std, cfg.SmoothLambda)
		if err != nil {
			return nil, err
		}
		tp.Backward(loss)
		opt.Step(cfg.LR)
		p.Grad = nil
		clamp(tensor.Host(p.Value), x)
		if progress != nil {
			progress(s+1, -float64(be.ToHost(cosTerm.Value)[0]))
		}
	}
	// Final similarities and smoothness of the clamped perturbation.
	tp := NewTape(be)
	f, err := embed(tp, tp.Normalize(tp.Add(xv, Const(p.Value)), mean, std))
	if err != nil {
		return nil, err
	}
	cos := be.ToHost(tp.CosineSimilarity(f, tv).Value)
	res := &AdvResult{Perturbation: be.ToHost(p.Value), Smooth: float64(be.ToHost(tp.Smoothness(Const(p.Value)).Value)[0])}
	for _, c := range cos {
		res.Similarity = append(res.Similarity, float64(c))
	}
	return res, nil
}

// clamp keeps x+p in [0, 1] (the notebook's pert.clamp_(-x, 1-x)).
func clamp(p, x []float32) {
	for i := range p {
		p[i] = float32(math.Min(math.Max(float64(p[i]), float64(-x[i])), float64(1-x[i])))
	}
}

// EncoderEmbed adapts an encoder's features as an EmbedFunc.
func EncoderEmbed(enc Encoder) EmbedFunc {
	return func(tp *Tape, x *Var) (*Var, error) {
		f, _, err := enc.Forward(tp, x)
		return f, err
	}
}
