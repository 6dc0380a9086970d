package train

import (
	"fmt"
	"math"

	"plp/tensor"
)

// Linear is x [..., in] @ w[out, in]^T + b, with b optional.
func (tp *Tape) Linear(x, w, b *Var) *Var {
	be := tp.be
	var bt *tensor.Tensor
	if b != nil {
		bt = b.Value
	}
	y := be.Linear(x.Value, w.Value, bt)
	return tp.record(y, func(g *tensor.Tensor) {
		in, out := w.Value.Dim(1), w.Value.Dim(0)
		g2 := g.Reshape(-1, out)
		x2 := x.Value.Reshape(-1, in)
		if x.requiresGrad {
			tp.accumulate(x, be.MatMul(g2, w.Value, false, false).Reshape(x.Value.Shape()...))
		}
		if w.requiresGrad {
			tp.accumulate(w, be.MatMul(g2, x2, true, false))
		}
		if b != nil && b.requiresGrad {
			tp.accumulate(b, be.Reduce(g2, 0, tensor.Sum))
		}
	}, x, w, b)
}

// CrossEntropy is PyTorch's nn.CrossEntropyLoss(label_smoothing=smoothing) with mean reduction over the
// rows of logits [B, C]. The log-softmax runs in float64 on the host: logits of a probe are small, and the
// extra precision keeps the loss within float32 rounding of PyTorch's.
func (tp *Tape) CrossEntropy(logits *Var, targets []int, smoothing float64) *Var {
	be := tp.be
	if logits.Value.Rank() != 2 || logits.Value.Dim(0) != len(targets) {
		panic(fmt.Sprintf("train: CrossEntropy of %v with %d targets", logits.Value.Shape(), len(targets)))
	}
	B, C := logits.Value.Dim(0), logits.Value.Dim(1)
	z := be.ToHost(logits.Value)
	probs := make([]float64, B*C)
	var loss float64
	for i := 0; i < B; i++ {
		row := z[i*C : (i+1)*C]
		y := targets[i]
		if y < 0 || y >= C {
			panic(fmt.Sprintf("train: target %d outside [0,%d)", y, C))
		}
		m := math.Inf(-1)
		for _, v := range row {
			m = math.Max(m, float64(v))
		}
		var s float64
		for _, v := range row {
			s += math.Exp(float64(v) - m)
		}
		lse := m + math.Log(s)
		var sumNeg float64
		for c, v := range row {
			logp := float64(v) - lse
			probs[i*C+c] = math.Exp(logp)
			sumNeg -= logp
		}
		loss += (1-smoothing)*(lse-float64(row[y])) + smoothing*sumNeg/float64(C)
	}
	loss /= float64(B)
	out := be.FromHost([]float32{float32(loss)}, 1)
	return tp.record(out, func(g *tensor.Tensor) {
		scale := float64(be.ToHost(g)[0]) / float64(B)
		grad := make([]float32, B*C)
		for i := 0; i < B; i++ {
			for c := 0; c < C; c++ {
				d := probs[i*C+c] - smoothing/float64(C)
				if c == targets[i] {
					d -= 1 - smoothing
				}
				grad[i*C+c] = float32(d * scale)
			}
		}
		tp.accumulate(logits, be.FromHost(grad, B, C))
	}, logits)
}
