package cpu

import (
	"fmt"
	"unsafe"
)

// Act is the activation an Epilogue applies.
type Act uint8

const (
	ActNone      Act = iota
	ActReLU          // max(x, 0)
	ActGELU          // x·Φ(x), as Gelu
	ActQuickGELU     // x·σ(1.702x), as QuickGelu
)

// Epilogue is elementwise work SgemmEpilogue applies to C after the product:
//
//	C[i][j] = Act(C[i][j] + RowBias[i] + ColBias[j] + Add[i·LdAdd+j])
//
// where C[i][j] on the right is the product. Nil slices are skipped. RowBias holds at least m values,
// ColBias at least n, and Add an m×n matrix with row stride LdAdd. Add may be C itself (same first
// element, LdAdd == ldc), an in-place residual: it then holds C's values from before the call. Otherwise
// Add must not share an element with C; SgemmEpilogue panics if it does.
type Epilogue struct {
	RowBias, ColBias []float32
	Add              []float32
	LdAdd            int
	Act              Act
}

// SgemmEpilogue computes C = op(A)·op(B), then applies ep to every element of C. Operands and strides are
// as for Sgemm with alpha 1 and beta 0, except that when Add is C itself it holds the values to add, read
// before the product overwrites them. The epilogue runs on each tile of C right after the tile's last
// product is accumulated, while it is in L1, which saves the passes over C that a bias, a residual add and
// an activation would each cost.
func SgemmEpilogue(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, ep *Epilogue) {
	checkSgemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	checkEpilogue(m, n, ep, c, ldc)
	ep, beta := ep.prepare(c)
	sgemmEp(kernel, transA, transB, m, n, k, 1, a, lda, b, ldb, beta, c, ldc, ep)
}

// sgemmEpilogueGo is the pure-Go twin of SgemmEpilogue.
func sgemmEpilogueGo(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, ep *Epilogue) {
	checkSgemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	checkEpilogue(m, n, ep, c, ldc)
	ep, beta := ep.prepare(c)
	sgemmEp(goKernel, transA, transB, m, n, k, 1, a, lda, b, ldb, beta, c, ldc, ep)
}

// prepare returns the epilogue to run after the product and the beta to
// run the product with: an Add that is C itself becomes beta = 1, and an
// epilogue with nothing to do becomes nil.
func (ep *Epilogue) prepare(c []float32) (*Epilogue, float32) {
	if ep == nil {
		return nil, 0
	}
	var beta float32
	if ep.Add != nil && len(ep.Add) > 0 && len(c) > 0 && &ep.Add[0] == &c[0] {
		e := *ep
		e.Add = nil
		ep, beta = &e, 1
	}
	if ep.RowBias == nil && ep.ColBias == nil && ep.Add == nil && ep.Act == ActNone {
		return nil, beta
	}
	return ep, beta
}

// cols returns ep for the columns of C from j0 on; nil stays nil.
func (ep *Epilogue) cols(j0 int) *Epilogue {
	if ep == nil || j0 == 0 {
		return ep
	}
	e := *ep
	if e.ColBias != nil {
		e.ColBias = e.ColBias[j0:]
	}
	if e.Add != nil {
		e.Add = e.Add[j0:]
	}
	return &e
}

func checkEpilogue(m, n int, ep *Epilogue, c []float32, ldc int) {
	if ep == nil || m == 0 || n == 0 {
		return
	}
	if ep.RowBias != nil && len(ep.RowBias) < m {
		panic(fmt.Sprintf("cpu: SgemmEpilogue: len(RowBias)=%d < m=%d", len(ep.RowBias), m))
	}
	if ep.ColBias != nil && len(ep.ColBias) < n {
		panic(fmt.Sprintf("cpu: SgemmEpilogue: len(ColBias)=%d < n=%d", len(ep.ColBias), n))
	}
	if ep.Add != nil {
		checkMatrix("Add", false, m, n, ep.Add, ep.LdAdd)
		same := &ep.Add[0] == &c[0]
		if same && ep.LdAdd != ldc {
			panic(fmt.Sprintf("cpu: SgemmEpilogue: Add is C with LdAdd=%d, ldc=%d", ep.LdAdd, ldc))
		}
		if !same && overlap(m, n, ep.Add, ep.LdAdd, c, ldc) {
			panic("cpu: SgemmEpilogue: Add overlaps C")
		}
	}
	if ep.Act > ActQuickGELU {
		panic(fmt.Sprintf("cpu: SgemmEpilogue: unknown activation %d", ep.Act))
	}
}

// overlap reports whether the m×n matrices x and y, with row strides ldx
// and ldy, share an element. With equal strides it is exact; otherwise any
// overlap of their spans counts.
func overlap(m, n int, x []float32, ldx int, y []float32, ldy int) bool {
	px := uintptr(unsafe.Pointer(&x[0]))
	py := uintptr(unsafe.Pointer(&y[0]))
	endX := px + uintptr(4*((m-1)*ldx+n))
	endY := py + uintptr(4*((m-1)*ldy+n))
	if endX <= py || endY <= px {
		return false
	}
	if ldx != ldy {
		return true
	}
	// Element offsets d = i·ld + j of y from x: an overlap needs
	// |d - di·ld| < n for some |di| < m.
	var d int
	if py >= px {
		d = int(py-px) / 4
	} else {
		d = -int(px-py) / 4
	}
	if (py-px)%4 != 0 {
		return true // misaligned views of one array: treat as shared
	}
	for _, di := range []int{floorDiv(d, ldx), floorDiv(d, ldx) + 1} {
		if di > -m && di < m && d-di*ldx > -n && d-di*ldx < n {
			return true
		}
	}
	return false
}

func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// applyEpilogue applies ep to rows [i0, i0+m) and columns [j0, j0+n) of C
// with the kernel's epilogue code.
func (kern *microKernel) applyEpilogue(ep *Epilogue, i0, m, j0, n int, c []float32, ldc int) {
	if kern.epilogue != nil {
		kern.epilogue(ep, i0, m, j0, n, c, ldc)
		return
	}
	epilogueVec(ep, i0, m, j0, n, c, ldc)
}

// epilogueGo applies ep to the m×n block of C at (i0, j0) in Go code alone.
func epilogueGo(ep *Epilogue, i0, m, j0, n int, c []float32, ldc int) {
	epilogueRows(ep, i0, m, j0, n, c, ldc, geluGo, quickGeluGo)
}

// epilogueVec is epilogueGo with the activations in vector code where the
// CPU has it.
func epilogueVec(ep *Epilogue, i0, m, j0, n int, c []float32, ldc int) {
	epilogueRows(ep, i0, m, j0, n, c, ldc, gelu, quickGelu)
}

// epilogueRows applies ep row by row, with the given GELU and QuickGELU.
func epilogueRows(ep *Epilogue, i0, m, j0, n int, c []float32, ldc int, gelu, quickGelu func(dst, x []float32)) {
	for i := i0; i < i0+m; i++ {
		row := c[i*ldc+j0 : i*ldc+j0+n]
		ep.addRow(row, i, j0)
		switch ep.Act {
		case ActReLU:
			reluRow(row)
		case ActGELU:
			gelu(row, row)
		case ActQuickGELU:
			quickGelu(row, row)
		}
	}
}

// addRow adds the biases and Add to row, which holds C[i][j0:].
func (ep *Epilogue) addRow(row []float32, i, j0 int) {
	if ep.RowBias != nil {
		bv := ep.RowBias[i]
		for j := range row {
			row[j] += bv
		}
	}
	if ep.ColBias != nil {
		for j, bv := range ep.ColBias[j0 : j0+len(row)] {
			row[j] += bv
		}
	}
	if ep.Add != nil {
		for j, v := range ep.Add[i*ep.LdAdd+j0 : i*ep.LdAdd+j0+len(row)] {
			row[j] += v
		}
	}
}

// reluRow sets negative values of x to 0, leaving NaN and -0 alone.
func reluRow(x []float32) {
	for j, v := range x {
		if v < 0 {
			x[j] = 0
		}
	}
}
