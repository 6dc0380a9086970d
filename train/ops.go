package train

import (
	"fmt"
	"math"

	"plp/kernels/cpu"
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
	return tp.record(y, func(g *tensor.Tensor) { tp.linearBackward(g, x, w, b) }, x, w, b)
}

// CrossEntropy is PyTorch's nn.CrossEntropyLoss(label_smoothing=smoothing) with mean reduction over the
// rows of logits [B, C]. Each row's log-softmax uses the vector exp kernel; the loss is summed in float64.
// Rows are split across cores: a probe's batch of 8192 rows over 1000 classes is as much work as its GEMMs.
func (tp *Tape) CrossEntropy(logits *Var, targets []int, smoothing float64) *Var {
	be := tp.be
	if logits.Value.Rank() != 2 || logits.Value.Dim(0) != len(targets) {
		panic(fmt.Sprintf("train: CrossEntropy of %v with %d targets", logits.Value.Shape(), len(targets)))
	}
	B, C := logits.Value.Dim(0), logits.Value.Dim(1)
	for _, y := range targets {
		if y < 0 || y >= C {
			panic(fmt.Sprintf("train: target %d outside [0,%d)", y, C))
		}
	}
	z := be.ToHost(logits.Value)
	probs := make([]float32, B*C)
	rowLoss := make([]float64, B)
	parallelRows(B, C, func(i int) {
		row, p := z[i*C:(i+1)*C], probs[i*C:(i+1)*C]
		m := cpu.MaxVal(row)
		s := cpu.ExpSub(p, row, m)
		lse := float64(m) + math.Log(float64(s))
		cpu.Scale(1/s, p)
		// Σ_c -log p_c = C·lse - Σ_c z_c.
		sumNeg := float64(C)*lse - float64(cpu.Sum(row))
		rowLoss[i] = (1-smoothing)*(lse-float64(row[targets[i]])) + smoothing*sumNeg/float64(C)
	})
	var loss float64
	for _, l := range rowLoss {
		loss += l
	}
	loss /= float64(B)
	out := be.FromHost([]float32{float32(loss)}, 1)
	return tp.record(out, func(g *tensor.Tensor) {
		scale := be.ToHost(g)[0] / float32(B)
		off := float32(smoothing / float64(C))
		hit := float32(1 - smoothing)
		grad := probs // the probabilities are not needed after the backward pass
		parallelRows(B, C, func(i int) {
			row := grad[i*C : (i+1)*C]
			for c := range row {
				row[c] -= off
			}
			row[targets[i]] -= hit
			cpu.Scale(scale, row)
		})
		tp.accumulate(logits, be.FromHost(grad, B, C))
	}, logits)
}

// parallelRows runs f on every row index, split among the cores when the rows hold enough work.
func parallelRows(rows, width int, f func(i int)) {
	parallelChunks(rows, max(1, (1<<15)/max(width, 1)), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			f(i)
		}
	})
}
