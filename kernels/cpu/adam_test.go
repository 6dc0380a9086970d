package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestAdamStep holds every kernel set's AdamStep to the Go twin bit for bit, on lengths around the vector
// width and on moments with zeros, and checks the twin against the update computed in float64 and rounded.
func TestAdamStep(t *testing.T) {
	defer setKernelSet("go")()
	c := &AdamConsts{Decay: 1 - 1e-3*0.05, L2: 0, Beta1: 0.9, OneMinB1: 1 - 0.9, Beta2: 0.999, OneMinB2: 1 - 0.999,
		BC2Sqrt: float32(math.Sqrt(1 - math.Pow(0.999, 3))), Eps: 1e-8, NegStep: float32(-1e-3 / (1 - math.Pow(0.9, 3)))}
	l2 := *c
	l2.Decay, l2.L2 = 1, 0.01
	for _, consts := range []*AdamConsts{c, &l2} {
		for _, n := range []int{0, 1, 7, 8, 9, 31, 64, 1003} {
			r := rand.New(rand.NewPCG(uint64(n), 8))
			w, g, m, v := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
			for i := range w {
				w[i], g[i] = float32(r.NormFloat64()), float32(r.NormFloat64()*1e-2)
				if i%5 != 0 {
					m[i], v[i] = float32(r.NormFloat64()*1e-3), float32(r.Float64()*1e-4)
				}
			}
			ww, wm, wv := append([]float32(nil), w...), append([]float32(nil), m...), append([]float32(nil), v...)
			adamGo(ww, g, wm, wv, consts)
			for i := range w {
				// The twin against float64 arithmetic: a few float32 roundings apart.
				wj := float64(w[i]) * float64(consts.Decay)
				gj := float64(g[i]) + float64(consts.L2)*wj
				mj := float64(m[i])*float64(consts.Beta1) + gj*float64(consts.OneMinB1)
				vj := float64(v[i])*float64(consts.Beta2) + gj*gj*float64(consts.OneMinB2)
				want := wj + float64(consts.NegStep)*mj/(math.Sqrt(vj)/float64(consts.BC2Sqrt)+float64(consts.Eps))
				if d := math.Abs(float64(ww[i]) - want); d > 1e-6*math.Abs(want)+1e-9 {
					t.Fatalf("n=%d: Go twin w[%d] = %v, float64 %v", n, i, ww[i], want)
				}
			}
			for _, name := range SupportedKernelSets() {
				setKernelSet(name)
				gw, gm, gv := append([]float32(nil), w...), append([]float32(nil), m...), append([]float32(nil), v...)
				AdamStep(gw, g, gm, gv, consts)
				for i := range gw {
					if math.Float32bits(gw[i]) != math.Float32bits(ww[i]) || math.Float32bits(gm[i]) != math.Float32bits(wm[i]) ||
						math.Float32bits(gv[i]) != math.Float32bits(wv[i]) {
						t.Fatalf("%s n=%d: element %d = (%v %v %v), Go twin (%v %v %v)", name, n, i, gw[i], gm[i], gv[i], ww[i], wm[i], wv[i])
					}
				}
			}
		}
	}
}

func TestAdamStepPanicsOnLengthMismatch(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	AdamStep(make([]float32, 3), make([]float32, 2), make([]float32, 3), make([]float32, 3), &AdamConsts{})
}
