package layers

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"plp/tensor"
)

// TestForwardRows checks ForwardRows against the whole block followed by picking the rows, for batched and
// packed sequences, causal or not, with rows at the start, the middle and the end of their sequences.
func TestForwardRows(t *testing.T) {
	be := tensor.CPU{}
	const W, heads = 32, 4
	p := RandomTensors(BlockShapes(W, 4*W), be, 5, func(k string, _ []int) (float64, float64) {
		if k == "ln_1.weight" || k == "ln_2.weight" {
			return 1, 0.1
		}
		return 0, 0.2
	})
	b := NewBlock(p, "", W, 1e-5)
	r := rand.New(rand.NewPCG(9, 10))
	for _, tc := range []struct {
		name   string
		S, N   int   // batched: S sequences of N rows
		lens   []int // packed, when not nil
		rows   []int
		causal bool
	}{
		{"class tokens", 3, 17, nil, []int{0, 0, 0}, false},
		{"batched middle rows", 3, 17, nil, []int{0, 16, 5}, false},
		{"batched causal", 2, 9, nil, []int{8, 3}, true},
		{"packed end rows", 0, 0, []int{5, 1, 12}, []int{4, 0, 11}, true},
		{"packed middle rows", 0, 0, []int{5, 1, 12}, []int{2, 0, 7}, true},
		{"packed non-causal", 0, 0, []int{5, 1, 12}, []int{2, 0, 7}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			shape := []int{tc.S, tc.N, W}
			var at []int
			if tc.lens != nil {
				total := 0
				for s, n := range tc.lens {
					at = append(at, total+tc.rows[s])
					total += n
				}
				shape = []int{1, total, W}
			} else {
				for s, row := range tc.rows {
					at = append(at, s*tc.N+row)
				}
			}
			xv := make([]float32, tensor.Numel(shape))
			for i := range xv {
				xv[i] = float32(r.NormFloat64())
			}
			x := be.FromHost(xv, shape...)
			opt := tensor.AttnOpts{Causal: tc.causal, Lens: tc.lens}
			full := b.Forward(be, x, heads, tensor.QuickGELU, opt)
			want := be.ToHost(be.Gather(full.Reshape(len(xv)/W, W), at))
			got := b.ForwardRows(be, x, tc.rows, heads, tensor.QuickGELU, opt)
			if fmt.Sprint(got.Shape()) != fmt.Sprint([]int{len(tc.rows), W}) {
				t.Fatalf("shape %v, want [%d %d]", got.Shape(), len(tc.rows), W)
			}
			for i, g := range be.ToHost(got) {
				if math.Abs(float64(g-want[i])) > 1e-5*(1+math.Abs(float64(want[i]))) {
					t.Fatalf("row %d feature %d: %v, whole block %v", i/W, i%W, g, want[i])
				}
			}
		})
	}
}
