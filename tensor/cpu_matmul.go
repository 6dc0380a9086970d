package tensor

import (
	"fmt"

	"plp/kernels/cpu"
)

// MatMul implements Backend.
func (c CPU) MatMul(a, b *Tensor, transA, transB bool) *Tensor {
	if a.Rank() < 2 || b.Rank() < 2 {
		panic(fmt.Sprintf("tensor: MatMul needs rank >= 2, got %v and %v", a.shape, b.shape))
	}
	ra, rb := a.Rank(), b.Rank()
	m, k := a.shape[ra-2], a.shape[ra-1]
	if transA {
		m, k = k, m
	}
	kb, n := b.shape[rb-2], b.shape[rb-1]
	if transB {
		kb, n = n, kb
	}
	batchShape := a.shape[:ra-2]
	if k != kb || (rb != 2 && !SameShape(batchShape, b.shape[:rb-2])) {
		panic(fmt.Sprintf("tensor: MatMul shapes %v (transA=%v) and %v (transB=%v) do not agree", a.shape, transA, b.shape, transB))
	}
	batch := Numel(batchShape)
	outShape := append(append([]int(nil), batchShape...), m, n)
	res, out := c.newResult(outShape...)
	ad, bd := host(a), host(b)
	lda, ldb := a.shape[ra-1], b.shape[rb-1]
	if rb == 2 && !transA {
		// A shared right operand lets the whole batch run as one tall GEMM.
		sgemm(false, transB, batch*m, n, k, 1, ad, lda, bd, ldb, 0, out, n)
		return res
	}
	for i := 0; i < batch; i++ {
		bo := 0
		if rb != 2 {
			bo = i * k * n
		}
		sgemm(transA, transB, m, n, k, 1, ad[i*m*k:], lda, bd[bo:], ldb, 0, out[i*m*n:], n)
	}
	return res
}

// Linear implements Backend.
func (c CPU) Linear(x, w, bias *Tensor) *Tensor { return c.LinearAct(x, w, bias, nil, Identity) }

// LinearAct implements Backend: bias, add and f run in the SGEMM epilogue, on each tile of the result
// while it is in cache.
func (c CPU) LinearAct(x, w, bias, add *Tensor, f Act) *Tensor {
	in := x.Dim(-1)
	if w.Rank() != 2 || w.shape[1] != in || (bias != nil && bias.Numel() != w.shape[0]) {
		panic(fmt.Sprintf("tensor: Linear of %v with weight %v", x.shape, w.shape))
	}
	outF := w.shape[0]
	rows := Numel(x.shape[:x.Rank()-1])
	shape := append(append([]int(nil), x.shape[:x.Rank()-1]...), outF)
	epilogueGeom("LinearAct", add, f, shape)
	res, out := c.newResult(shape...)
	ep := &cpu.Epilogue{LdAdd: outF}
	if bias != nil {
		ep.ColBias = host(bias)
	}
	if add != nil {
		ep.Add = host(add)
	}
	act, fused := epilogueAct(f)
	ep.Act = act
	cpu.SgemmEpilogue(false, true, rows, outF, in, host(x), in, host(w), in, out, outF, ep)
	if !fused {
		parallelFor(len(out), 1<<13, func(lo, hi int) { applyAct(f, out[lo:hi]) })
	}
	return res
}
