package tensor

import "fmt"

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
	out := make([]float32, batch*m*n)
	ad, bd := host(a), host(b)
	lda, ldb := a.shape[ra-1], b.shape[rb-1]
	if rb == 2 && !transA {
		// A shared right operand lets the whole batch run as one tall GEMM.
		sgemm(false, transB, batch*m, n, k, 1, ad, lda, bd, ldb, 0, out, n)
		return c.wrap(out, outShape...)
	}
	for i := 0; i < batch; i++ {
		bo := 0
		if rb != 2 {
			bo = i * k * n
		}
		sgemm(transA, transB, m, n, k, 1, ad[i*m*k:], lda, bd[bo:], ldb, 0, out[i*m*n:], n)
	}
	return c.wrap(out, outShape...)
}

// Linear implements Backend.
func (c CPU) Linear(x, w, bias *Tensor) *Tensor {
	in := x.Dim(-1)
	if w.Rank() != 2 || w.shape[1] != in || (bias != nil && bias.Numel() != w.shape[0]) {
		panic(fmt.Sprintf("tensor: Linear of %v with weight %v", x.shape, w.shape))
	}
	outF := w.shape[0]
	rows := x.Numel() / in
	out := make([]float32, rows*outF)
	var beta float32
	if bias != nil {
		bd := host(bias)
		for r := 0; r < rows; r++ {
			copy(out[r*outF:(r+1)*outF], bd)
		}
		beta = 1
	}
	sgemm(false, true, rows, outF, in, 1, host(x), in, host(w), in, beta, out, outF)
	shape := append(append([]int(nil), x.shape[:x.Rank()-1]...), outF)
	return c.wrap(out, shape...)
}
