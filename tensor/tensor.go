package tensor

import (
	"fmt"
	"strings"
)

// Tensor is a contiguous row-major float32 array owned by a Backend.
type Tensor struct {
	shape []int
	st    Storage
	off   int // element offset into st, for views
	be    Backend
}

// Storage is backend-specific memory that holds at least Len float32 elements.
type Storage interface {
	Len() int
}

// NewTensor wraps storage; backends use it to build results. off+prod(shape) must fit in st.
func NewTensor(be Backend, st Storage, off int, shape []int) *Tensor {
	n := Numel(shape)
	if off < 0 || off+n > st.Len() {
		panic(fmt.Sprintf("tensor: view [%d,%d) outside storage of %d elements", off, off+n, st.Len()))
	}
	return &Tensor{shape: append([]int(nil), shape...), st: st, off: off, be: be}
}

// Shape returns the dimensions; the slice must not be modified.
func (t *Tensor) Shape() []int { return t.shape }

// Dim returns dimension i; negative i counts from the end.
func (t *Tensor) Dim(i int) int {
	if i < 0 {
		i += len(t.shape)
	}
	return t.shape[i]
}

// Rank is the number of dimensions.
func (t *Tensor) Rank() int { return len(t.shape) }

// Numel is the number of elements.
func (t *Tensor) Numel() int { return Numel(t.shape) }

// Storage and Offset expose the backing memory to the owning backend.
func (t *Tensor) Storage() Storage { return t.st }

// Offset is the element offset of this view into its storage.
func (t *Tensor) Offset() int { return t.off }

// Backend returns the owning backend.
func (t *Tensor) Backend() Backend { return t.be }

// Reshape returns a view with a new shape of the same size; one dimension may be -1 (inferred).
func (t *Tensor) Reshape(shape ...int) *Tensor {
	shape = append([]int(nil), shape...)
	infer, known := -1, 1
	for i, d := range shape {
		if d == -1 {
			if infer >= 0 {
				panic("tensor: Reshape with two -1 dimensions")
			}
			infer = i
			continue
		}
		known *= d
	}
	if infer >= 0 {
		if known == 0 || t.Numel()%known != 0 {
			panic(fmt.Sprintf("tensor: cannot reshape %v to %v", t.shape, shape))
		}
		shape[infer] = t.Numel() / known
	}
	if Numel(shape) != t.Numel() {
		panic(fmt.Sprintf("tensor: cannot reshape %v to %v", t.shape, shape))
	}
	return &Tensor{shape: shape, st: t.st, off: t.off, be: t.be}
}

// Narrow0 returns the view of rows [start, end) along the first dimension.
func (t *Tensor) Narrow0(start, end int) *Tensor {
	if len(t.shape) == 0 || start < 0 || end > t.shape[0] || start > end {
		panic(fmt.Sprintf("tensor: Narrow0(%d,%d) of %v", start, end, t.shape))
	}
	inner := Numel(t.shape[1:])
	shape := append([]int{end - start}, t.shape[1:]...)
	return &Tensor{shape: shape, st: t.st, off: t.off + start*inner, be: t.be}
}

// String describes the shape and backend, not the values.
func (t *Tensor) String() string {
	parts := make([]string, len(t.shape))
	for i, d := range t.shape {
		parts[i] = fmt.Sprint(d)
	}
	return fmt.Sprintf("Tensor[%s]@%s", strings.Join(parts, "x"), t.be.Name())
}

// Numel is the product of the dimensions (1 for a scalar).
func Numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// SameShape reports whether a and b have equal dimensions.
func SameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
