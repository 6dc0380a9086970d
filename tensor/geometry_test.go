package tensor_test

import (
	"fmt"
	"slices"
	"testing"

	"plp/kernels/cuda"
	"plp/tensor"
)

// panicOf runs f and returns what it panicked with ("" if it returned).
func panicOf(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	f()
	return ""
}

// TestShapeChecks runs the same calls on the CPU and the emulated CUDA backend: valid ones give the
// expected output shape, invalid ones panic with the same message on both.
func TestShapeChecks(t *testing.T) {
	emu, err := tensor.NewCUDAOn(cuda.NewEmulator(), "cuda:emulated")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		call  func(be tensor.Backend) *tensor.Tensor
		shape []int  // output shape of a valid call
		panic string // message of an invalid one
	}{
		{"conv stride 2 pad 1", func(be tensor.Backend) *tensor.Tensor {
			return be.Conv2D(be.Zeros(2, 4, 9, 8), be.Zeros(6, 4, 3, 3), be.Zeros(6), tensor.Conv{StrideH: 2, StrideW: 2, PadH: 1, PadW: 1})
		}, []int{2, 6, 5, 4}, ""},
		{"conv default stride", func(be tensor.Backend) *tensor.Tensor {
			return be.Conv2D(be.Zeros(1, 4, 5, 5), be.Zeros(2, 2, 3, 1), nil, tensor.Conv{Groups: 2})
		}, []int{1, 2, 3, 5}, ""},
		{"conv rank", func(be tensor.Backend) *tensor.Tensor {
			return be.Conv2D(be.Zeros(4, 5, 5), be.Zeros(2, 4, 3, 3), nil, tensor.Conv{})
		}, nil, "tensor: Conv2D of [4 5 5] with weight [2 4 3 3]"},
		{"conv groups", func(be tensor.Backend) *tensor.Tensor {
			return be.Conv2D(be.Zeros(1, 6, 5, 5), be.Zeros(3, 3, 3, 3), nil, tensor.Conv{Groups: 3})
		}, nil, "tensor: Conv2D of [1 6 5 5] with weight [3 3 3 3], groups 3"},
		{"conv bias", func(be tensor.Backend) *tensor.Tensor {
			return be.Conv2D(be.Zeros(1, 4, 5, 5), be.Zeros(2, 4, 3, 3), be.Zeros(3), tensor.Conv{})
		}, nil, "tensor: Conv2D of [1 4 5 5] with weight [2 4 3 3], groups 1"},
		{"conv empty", func(be tensor.Backend) *tensor.Tensor {
			return be.Conv2D(be.Zeros(1, 4, 2, 5), be.Zeros(2, 4, 3, 3), nil, tensor.Conv{})
		}, nil, "tensor: Conv2D output of [1 4 2 5] with kernel 3x3 is empty"},
		{"pool default stride", func(be tensor.Backend) *tensor.Tensor {
			return be.Pool2D(be.Zeros(2, 3, 7, 8), tensor.Pool{Kind: tensor.MaxPool, KH: 2, KW: 2})
		}, []int{2, 3, 3, 4}, ""},
		{"pool kernel", func(be tensor.Backend) *tensor.Tensor {
			return be.Pool2D(be.Zeros(2, 3, 7, 8), tensor.Pool{KH: 0, KW: 2})
		}, nil, "tensor: Pool2D of [2 3 7 8] with kernel 0x2"},
		{"permute", func(be tensor.Backend) *tensor.Tensor { return be.Permute(be.Zeros(2, 3, 4), 2, 0, 1) }, []int{4, 2, 3}, ""},
		{"permute repeat", func(be tensor.Backend) *tensor.Tensor { return be.Permute(be.Zeros(2, 3, 4), 0, 0, 1) },
			nil, "tensor: Permute [0 0 1] is not a permutation"},
		{"permute rank", func(be tensor.Backend) *tensor.Tensor { return be.Permute(be.Zeros(2, 3), 1, 0, 2) },
			nil, "tensor: Permute [1 0 2] of [2 3]"},
		{"concat", func(be tensor.Backend) *tensor.Tensor { return be.Concat(-1, be.Zeros(2, 3), be.Zeros(2, 5)) }, []int{2, 8}, ""},
		{"concat nothing", func(be tensor.Backend) *tensor.Tensor { return be.Concat(0) }, nil, "tensor: Concat of nothing"},
		{"concat ranks", func(be tensor.Backend) *tensor.Tensor { return be.Concat(0, be.Zeros(2, 3), be.Zeros(2)) },
			nil, "tensor: Concat of ranks 2 and 1"},
		{"concat dims", func(be tensor.Backend) *tensor.Tensor { return be.Concat(1, be.Zeros(2, 3), be.Zeros(3, 3)) },
			nil, "tensor: Concat along 1 of [2 3] and [3 3]"},
		{"concat axis", func(be tensor.Backend) *tensor.Tensor { return be.Concat(2, be.Zeros(2, 3)) },
			nil, "tensor: axis 2 out of range for rank 2"},
		{"slice", func(be tensor.Backend) *tensor.Tensor { return be.Slice(be.Zeros(2, 6, 3), -2, 1, 4) }, []int{2, 3, 3}, ""},
		{"slice range", func(be tensor.Backend) *tensor.Tensor { return be.Slice(be.Zeros(2, 6), 1, 4, 7) },
			nil, "tensor: Slice [4,7) on axis 1 of [2 6]"},
	}
	for _, c := range cases {
		for _, be := range []tensor.Backend{tensor.CPU{}, emu} {
			var out *tensor.Tensor
			msg := panicOf(func() { out = c.call(be) })
			if msg != c.panic {
				t.Errorf("%s on %s: panic %q, want %q", c.name, be.Name(), msg, c.panic)
				continue
			}
			if c.panic == "" && !slices.Equal(out.Shape(), c.shape) {
				t.Errorf("%s on %s: shape %v, want %v", c.name, be.Name(), out.Shape(), c.shape)
			}
		}
	}
}
