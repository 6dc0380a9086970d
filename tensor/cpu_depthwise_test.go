package tensor_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"plp/tensor"
)

// dwTensor is a tensor of normal values.
func dwTensor(r *rand.Rand, shape ...int) *tensor.Tensor {
	v := make([]float32, tensor.Numel(shape))
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return tensor.CPU{}.FromHost(v, shape...)
}

// TestDepthwiseChannelsLast compares channels-last depthwise convolutions with the channels-first ones
// on the same values, permuted: odd channel counts (vector tails), padding wider than the image, strides,
// rows fewer than the workers, and every epilogue.
func TestDepthwiseChannelsLast(t *testing.T) {
	tests := []struct {
		B, H, W, C, kh, kw, sh, sw, ph, pw int
		bias, add                          bool
		act                                tensor.Act
	}{
		{2, 9, 11, 17, 7, 7, 1, 1, 3, 3, true, false, tensor.Identity}, // ConvNeXt's block, 17 channels
		{1, 14, 14, 128, 7, 7, 1, 1, 3, 3, true, true, tensor.GELU},
		{3, 7, 7, 33, 7, 7, 1, 1, 3, 3, false, true, tensor.Identity}, // 7 columns: the narrow tiles
		{1, 3, 2, 3, 7, 7, 1, 1, 3, 3, true, false, tensor.ReLU},      // kernel wider than the image
		{2, 8, 10, 16, 3, 3, 2, 2, 1, 1, true, true, tensor.ReLU},     // strided (MobileNet)
		{1, 9, 13, 5, 3, 5, 2, 1, 0, 2, false, false, tensor.Tanh},    // rectangular kernel, uneven pads
		{1, 5, 6, 1, 1, 1, 1, 1, 0, 0, true, false, tensor.QuickGELU}, // one channel, 1×1
		{4, 20, 18, 24, 5, 5, 1, 2, 2, 2, true, true, tensor.Sigmoid},
		{1, 40, 37, 48, 7, 7, 1, 1, 3, 3, true, false, tensor.Identity}, // several bands per image
	}
	be := tensor.CPU{}
	r := rand.New(rand.NewPCG(5, 6))
	for _, tc := range tests {
		name := fmt.Sprintf("B%d_%dx%d_C%d_k%dx%d_s%dx%d_p%dx%d_bias%v_add%v_act%d", tc.B, tc.H, tc.W, tc.C, tc.kh, tc.kw, tc.sh, tc.sw, tc.ph, tc.pw, tc.bias, tc.add, tc.act)
		t.Run(name, func(t *testing.T) {
			p := tensor.Conv{StrideH: tc.sh, StrideW: tc.sw, PadH: tc.ph, PadW: tc.pw, Groups: tc.C}
			ho, wo := (tc.H+2*tc.ph-tc.kh)/tc.sh+1, (tc.W+2*tc.pw-tc.kw)/tc.sw+1
			x := dwTensor(r, tc.B, tc.C, tc.H, tc.W)
			w := dwTensor(r, tc.C, 1, tc.kh, tc.kw)
			var bias, add, addNHWC *tensor.Tensor
			if tc.bias {
				bias = dwTensor(r, tc.C)
			}
			if tc.add {
				add = dwTensor(r, tc.B, tc.C, ho, wo)
				addNHWC = be.Permute(add, 0, 2, 3, 1)
			}
			want := be.ToHost(be.Conv2DAct(x, w, bias, add, p, tc.act))
			pl := p
			pl.ChannelsLast = true
			got := be.Conv2DAct(be.Permute(x, 0, 2, 3, 1), be.Permute(w, 0, 2, 3, 1), bias, addNHWC, pl, tc.act)
			if s := got.Shape(); len(s) != 4 || s[0] != tc.B || s[1] != ho || s[2] != wo || s[3] != tc.C {
				t.Fatalf("shape %v, want [%d %d %d %d]", s, tc.B, ho, wo, tc.C)
			}
			gotNCHW := be.ToHost(be.Permute(got, 0, 3, 1, 2))
			// Both sum the same kh·kw products, in different orders and with or without fused multiply-adds.
			tol := 2e-6 * float64(tc.kh*tc.kw)
			for i := range want {
				if d := math.Abs(float64(gotNCHW[i] - want[i])); !(d <= tol*(1+math.Abs(float64(want[i])))) {
					t.Fatalf("[%d] = %v, want %v", i, gotNCHW[i], want[i])
				}
			}
		})
	}
}

// BenchmarkDepthwiseChannelsLast runs the depthwise 7×7 of ConvNeXt-B's first and third stages on a
// batch of 16.
func BenchmarkDepthwiseChannelsLast(b *testing.B) {
	be := tensor.CPU{}
	r := rand.New(rand.NewPCG(1, 2))
	for _, g := range []struct{ hw, c int }{{56, 128}, {14, 512}} {
		x := dwTensor(r, 16, g.hw, g.hw, g.c)
		w, bias := dwTensor(r, g.c, 7, 7, 1), dwTensor(r, g.c)
		p := tensor.Conv{PadH: 3, PadW: 3, Groups: g.c, ChannelsLast: true}
		b.Run(fmt.Sprintf("%dx%dx%d", g.hw, g.hw, g.c), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				be.Conv2D(x, w, bias, p)
			}
			b.ReportMetric(float64(2*49*16*g.hw*g.hw*g.c*b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// TestDepthwiseChannelsLastRecycled runs a depthwise convolution whose result may reuse a freed buffer
// full of NaNs: every element must be written.
func TestDepthwiseChannelsLastRecycled(t *testing.T) {
	be := tensor.CPU{}
	r := rand.New(rand.NewPCG(7, 8))
	const B, H, W, C = 2, 20, 19, 176 // 133760 results, enough to be recycled
	nan := make([]float32, B*H*W*C)
	for i := range nan {
		nan[i] = float32(math.NaN())
	}
	x := dwTensor(r, B, H, W, C)
	w, bias := dwTensor(r, C, 7, 7, 1), dwTensor(r, C)
	p := tensor.Conv{PadH: 3, PadW: 3, Groups: C, ChannelsLast: true}
	want := be.ToHost(be.Conv2D(x, w, bias, p))
	for i := 0; i < 3; i++ {
		junk := be.Add(be.FromHost(nan, B, H, W, C), be.Zeros(B, H, W, C))
		be.Free(junk)
		got := be.ToHost(be.Conv2D(x, w, bias, p))
		for j := range got {
			if got[j] != want[j] {
				t.Fatalf("run %d: [%d] = %v, want %v", i, j, got[j], want[j])
			}
		}
	}
}
