package tensor_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"plp/tensor"
)

func randTensor(be tensor.CPU, r *rand.Rand, shape ...int) *tensor.Tensor {
	v := make([]float32, tensor.Numel(shape))
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return be.FromHost(v, shape...)
}

// closeTo reports the first element of got farther than tol·(1+|want|) from want.
func closeTo(got, want []float32, tol float64) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d values, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] == want[i] { // infinities included
			continue
		}
		if d := math.Abs(float64(got[i] - want[i])); !(d <= tol*(1+math.Abs(float64(want[i])))) {
			return fmt.Errorf("[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	return nil
}

// TestConv2DChannelsLast compares channels-last convolutions with the channels-first ones on the same
// values, permuted.
func TestConv2DChannelsLast(t *testing.T) {
	tests := []struct {
		B, H, W, cin, cout, k, stride, pad, groups int
		bias, add                                  bool
		act                                        tensor.Act
	}{
		{2, 7, 5, 5, 6, 1, 1, 0, 1, false, false, tensor.Identity}, // one product over every pixel
		{2, 7, 5, 5, 6, 1, 1, 0, 1, true, true, tensor.ReLU},
		{1, 9, 9, 64, 33, 1, 2, 0, 1, true, false, tensor.Identity}, // strided 1×1: a projection shortcut
		{2, 8, 7, 5, 7, 3, 1, 1, 1, true, false, tensor.ReLU},
		{3, 9, 6, 3, 4, 3, 2, 1, 1, false, true, tensor.GELU},
		{1, 11, 13, 3, 8, 7, 2, 3, 1, true, false, tensor.ReLU}, // the ResNet stem
		{2, 6, 6, 64, 40, 3, 1, 1, 1, true, true, tensor.ReLU},
		{1, 5, 4, 5, 3, 3, 1, 0, 1, true, true, tensor.Tanh},      // an activation outside the SGEMM epilogue
		{1, 4, 4, 3, 2, 7, 1, 3, 1, true, false, tensor.Identity}, // kernel wider than the image
		{2, 6, 5, 4, 6, 3, 2, 1, 2, true, true, tensor.ReLU},      // grouped
	}
	be := tensor.CPU{}
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range tests {
		name := fmt.Sprintf("B%d_%dx%d_cin%d_cout%d_k%d_s%d_p%d_g%d_bias%v_add%v_act%d", tc.B, tc.H, tc.W, tc.cin, tc.cout, tc.k, tc.stride, tc.pad, tc.groups, tc.bias, tc.add, tc.act)
		t.Run(name, func(t *testing.T) {
			p := tensor.Conv{StrideH: tc.stride, StrideW: tc.stride, PadH: tc.pad, PadW: tc.pad, Groups: tc.groups}
			x := randTensor(be, r, tc.B, tc.cin, tc.H, tc.W)
			w := randTensor(be, r, tc.cout, tc.cin/tc.groups, tc.k, tc.k)
			var bias, add, addNHWC *tensor.Tensor
			if tc.bias {
				bias = randTensor(be, r, tc.cout)
			}
			ho, wo := (tc.H+2*tc.pad-tc.k)/tc.stride+1, (tc.W+2*tc.pad-tc.k)/tc.stride+1
			if tc.add {
				add = randTensor(be, r, tc.B, tc.cout, ho, wo)
				addNHWC = be.Permute(add, 0, 2, 3, 1)
			}
			want := be.Conv2DAct(x, w, bias, add, p, tc.act)
			pl := p
			pl.ChannelsLast = true
			got := be.Conv2DAct(be.Permute(x, 0, 2, 3, 1), be.Permute(w, 0, 2, 3, 1), bias, addNHWC, pl, tc.act)
			if s := got.Shape(); len(s) != 4 || s[0] != tc.B || s[1] != ho || s[2] != wo || s[3] != tc.cout {
				t.Fatalf("shape %v, want [%d %d %d %d]", s, tc.B, ho, wo, tc.cout)
			}
			k := tc.cin / tc.groups * tc.k * tc.k
			tol := 2e-6 * math.Sqrt(float64(k))
			if err := closeTo(be.ToHost(be.Permute(got, 0, 3, 1, 2)), be.ToHost(want), tol); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestConv2DChannelsLastLarge covers a convolution whose patch matrix is built in several chunks, each
// with its own rows of the add.
func TestConv2DChannelsLastLarge(t *testing.T) {
	be := tensor.CPU{}
	r := rand.New(rand.NewPCG(3, 4))
	x := randTensor(be, r, 2, 64, 48, 48)
	w := randTensor(be, r, 32, 64, 3, 3)
	bias := randTensor(be, r, 32)
	add := randTensor(be, r, 2, 32, 48, 48)
	p := tensor.Conv{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, Groups: 1}
	want := be.Conv2DAct(x, w, bias, add, p, tensor.ReLU)
	p.ChannelsLast = true
	got := be.Conv2DAct(be.Permute(x, 0, 2, 3, 1), be.Permute(w, 0, 2, 3, 1), bias, be.Permute(add, 0, 2, 3, 1), p, tensor.ReLU)
	if err := closeTo(be.ToHost(be.Permute(got, 0, 3, 1, 2)), be.ToHost(want), 5e-5); err != nil {
		t.Fatal(err)
	}
}

// TestPool2DChannelsLast compares channels-last pooling with channels-first pooling on the same values.
func TestPool2DChannelsLast(t *testing.T) {
	tests := []struct {
		B, H, W, C, k, stride, pad int
		kind                       tensor.PoolKind
	}{
		{2, 8, 8, 64, 3, 2, 1, tensor.MaxPool}, // the ResNet stem
		{1, 7, 9, 5, 3, 2, 1, tensor.MaxPool},
		{2, 6, 6, 3, 2, 2, 0, tensor.AvgPool}, // OpenCLIP's anti-aliasing pool
		{1, 7, 5, 5, 3, 1, 1, tensor.AvgPool}, // padding counts as zeros
		{1, 5, 5, 3, 3, 2, 0, tensor.AvgPool},
		{2, 4, 3, 7, 1, 1, 0, tensor.MaxPool},
		{0, 4, 4, 3, 2, 2, 0, tensor.AvgPool}, // an empty batch
		{1, 3, 4, 5, 1, 1, 1, tensor.MaxPool}, // border windows wholly in the padding
		{1, 3, 4, 5, 1, 1, 1, tensor.AvgPool},
	}
	be := tensor.CPU{}
	r := rand.New(rand.NewPCG(5, 6))
	for _, tc := range tests {
		name := fmt.Sprintf("B%d_%dx%d_C%d_k%d_s%d_p%d_kind%d", tc.B, tc.H, tc.W, tc.C, tc.k, tc.stride, tc.pad, tc.kind)
		t.Run(name, func(t *testing.T) {
			p := tensor.Pool{Kind: tc.kind, KH: tc.k, KW: tc.k, StrideH: tc.stride, StrideW: tc.stride, PadH: tc.pad, PadW: tc.pad}
			x := randTensor(be, r, tc.B, tc.C, tc.H, tc.W)
			want := be.Pool2D(x, p)
			p.ChannelsLast = true
			got := be.Pool2D(be.Permute(x, 0, 2, 3, 1), p)
			ws := want.Shape()
			if s := got.Shape(); s[0] != ws[0] || s[1] != ws[2] || s[2] != ws[3] || s[3] != ws[1] {
				t.Fatalf("shape %v, want channels-last of %v", s, ws)
			}
			if err := closeTo(be.ToHost(be.Permute(got, 0, 3, 1, 2)), be.ToHost(want), 1e-6); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestChannelsLastBadShapes checks that mismatched channels-last operands are refused with a message
// naming the operation.
func TestChannelsLastBadShapes(t *testing.T) {
	be := tensor.CPU{}
	cl := tensor.Conv{StrideH: 1, StrideW: 1, Groups: 1, ChannelsLast: true}
	tests := []struct {
		name, want string
		run        func()
	}{
		{"conv channels", "Conv2D", func() { be.Conv2D(be.Zeros(1, 4, 4, 3), be.Zeros(2, 1, 1, 4), nil, cl) }},
		{"conv rank", "Conv2D", func() { be.Conv2D(be.Zeros(4, 4, 3), be.Zeros(2, 1, 1, 3), nil, cl) }},
		{"conv bias", "Conv2D", func() { be.Conv2D(be.Zeros(1, 4, 4, 3), be.Zeros(2, 1, 1, 3), be.Zeros(3), cl) }},
		{"conv empty", "Conv2D", func() { be.Conv2D(be.Zeros(1, 2, 2, 3), be.Zeros(2, 3, 3, 3), nil, cl) }},
		{"conv add", "Conv2DAct", func() {
			be.Conv2DAct(be.Zeros(1, 4, 4, 3), be.Zeros(2, 1, 1, 3), nil, be.Zeros(1, 2, 4, 4), cl, tensor.ReLU)
		}},
		{"pool rank", "Pool2D", func() {
			be.Pool2D(be.Zeros(4, 4, 3), tensor.Pool{Kind: tensor.MaxPool, KH: 2, KW: 2, ChannelsLast: true})
		}},
		{"pool kernel", "Pool2D", func() {
			be.Pool2D(be.Zeros(1, 4, 4, 3), tensor.Pool{Kind: tensor.AvgPool, KH: 0, KW: 2, ChannelsLast: true})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil {
					t.Fatal("no panic")
				}
				if msg := fmt.Sprint(r); !strings.Contains(msg, tc.want) {
					t.Fatalf("panic %q does not name %s", msg, tc.want)
				}
			}()
			tc.run()
		})
	}
}
