package cpu

import (
	"fmt"
	"math"
)

// AdamConsts are the per-step constants of an Adam or AdamW update (PyTorch's torch.optim.Adam/AdamW
// with amsgrad off, in its float32 arithmetic order).
type AdamConsts struct {
	Decay    float32 // AdamW's 1 - lr·weight_decay (1 for Adam)
	L2       float32 // Adam's weight_decay added to the gradient (0 for AdamW)
	Beta1    float32
	OneMinB1 float32 // 1 - β1
	Beta2    float32
	OneMinB2 float32 // 1 - β2
	BC2Sqrt  float32 // √(1 - β2^step)
	Eps      float32
	NegStep  float32 // -lr / (1 - β1^step)
}

// AdamStep updates parameters w with gradients g and moments m and v in place, element by element:
//
//	w' = w·Decay;  g' = g + L2·w';  m = β1·m + (1-β1)·g';  v = β2·v + (1-β2)·g'·g'
//	w = w' + NegStep·(m / (√v / BC2Sqrt + Eps))
//
// every operation rounded to float32 on its own (no fused multiply-add), so every kernel set gives the
// same bits.
func AdamStep(w, g, m, v []float32, c *AdamConsts) {
	n := len(w)
	if len(g) != n || len(m) != n || len(v) != n {
		panic(fmt.Sprintf("cpu: AdamStep of lengths %d, %d, %d, %d", n, len(g), len(m), len(v)))
	}
	done := adamAsm(w, g, m, v, c)
	adamGo(w[done:], g[done:], m[done:], v[done:], c)
}

// adamGo is the pure-Go twin. The float32 conversions round each product on its own: they keep the
// compiler from fusing a multiply and an add where the target has FMA. The float64 square root rounded
// to float32 is the correctly rounded float32 square root.
func adamGo(w, g, m, v []float32, c *AdamConsts) {
	g, m, v = g[:len(w)], m[:len(w)], v[:len(w)]
	for j := range w {
		wj := float32(w[j] * c.Decay)
		gj := g[j] + float32(c.L2*wj)
		mj := float32(m[j]*c.Beta1) + float32(gj*c.OneMinB1)
		vj := float32(v[j]*c.Beta2) + float32(float32(gj*gj)*c.OneMinB2)
		m[j], v[j] = mj, vj
		denom := float32(float32(math.Sqrt(float64(vj)))/c.BC2Sqrt) + c.Eps
		w[j] = wj + float32(c.NegStep*(mj/denom))
	}
}
