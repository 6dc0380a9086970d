package cpu

import "fmt"

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
// Nil slices are skipped. RowBias holds at least m values, ColBias at least n, and Add an m×n matrix with
// row stride LdAdd; Add may be C itself (with LdAdd == ldc) but must not overlap it otherwise.
type Epilogue struct {
	RowBias, ColBias []float32
	Add              []float32
	LdAdd            int
	Act              Act
}

// SgemmEpilogue computes C = op(A)·op(B), then applies ep to every element of C. Operands and strides are
// as for Sgemm with alpha 1 and beta 0. Doing the epilogue inside the product saves the separate passes
// over C that a bias, a residual add and an activation would each cost.
func SgemmEpilogue(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, ep *Epilogue) {
	checkSgemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	checkEpilogue(m, n, ep)
	sgemm(kernel, transA, transB, m, n, k, 1, a, lda, b, ldb, 0, c, ldc)
	applyEpilogue(ep, 0, m, 0, n, c, ldc)
}

// sgemmEpilogueGo is the pure-Go twin of SgemmEpilogue.
func sgemmEpilogueGo(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, ep *Epilogue) {
	checkSgemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	checkEpilogue(m, n, ep)
	sgemm(goKernel, transA, transB, m, n, k, 1, a, lda, b, ldb, 0, c, ldc)
	applyEpilogue(ep, 0, m, 0, n, c, ldc)
}

func checkEpilogue(m, n int, ep *Epilogue) {
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
	}
	if ep.Act > ActQuickGELU {
		panic(fmt.Sprintf("cpu: SgemmEpilogue: unknown activation %d", ep.Act))
	}
}

// applyEpilogue applies ep to rows [i0, i1) and columns [j0, j1) of C.
func applyEpilogue(ep *Epilogue, i0, i1, j0, j1 int, c []float32, ldc int) {
	if ep == nil {
		return
	}
	for i := i0; i < i1; i++ {
		row := c[i*ldc+j0 : i*ldc+j1]
		if ep.RowBias != nil {
			bv := ep.RowBias[i]
			for j := range row {
				row[j] += bv
			}
		}
		if ep.ColBias != nil {
			for j, bv := range ep.ColBias[j0:j1] {
				row[j] += bv
			}
		}
		if ep.Add != nil {
			for j, v := range ep.Add[i*ep.LdAdd+j0 : i*ep.LdAdd+j1] {
				row[j] += v
			}
		}
		switch ep.Act {
		case ActReLU:
			for j, v := range row {
				if v < 0 {
					row[j] = 0
				}
			}
		case ActGELU:
			gelu(row, row)
		case ActQuickGELU:
			quickGelu(row, row)
		}
	}
}
