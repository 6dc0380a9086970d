package cuda

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// refAttention is softmax(q·kᵀ/√hd + bias, causal) v per (batch, head), in float64.
func refAttention(q, k, v, bias []float32, B, nq, nk, H, hd int, causal bool) []float64 {
	D := H * hd
	out := make([]float64, B*nq*D)
	s := make([]float64, nk)
	for b := 0; b < B; b++ {
		for h := 0; h < H; h++ {
			for i := 0; i < nq; i++ {
				mx := math.Inf(-1)
				for j := 0; j < nk; j++ {
					s[j] = math.Inf(-1)
					if causal && j > i {
						continue
					}
					var d float64
					for c := 0; c < hd; c++ {
						d += float64(q[(b*nq+i)*D+h*hd+c]) * float64(k[(b*nk+j)*D+h*hd+c])
					}
					s[j] = d / math.Sqrt(float64(hd))
					if bias != nil {
						s[j] += float64(bias[(h*nq+i)*nk+j])
					}
					mx = math.Max(mx, s[j])
				}
				var sum float64
				for j := range s {
					s[j] = math.Exp(s[j] - mx)
					sum += s[j]
				}
				for c := 0; c < hd; c++ {
					var o float64
					for j := 0; j < nk; j++ {
						o += s[j] * float64(v[(b*nk+j)*D+h*hd+c])
					}
					out[(b*nq+i)*D+h*hd+c] = o / sum
				}
			}
		}
	}
	return out
}

// TestAttentionKernels runs both attention kernels in the PTX interpreter against a float64 reference,
// over head widths on and off the lane and unrolling boundaries, key counts on and off 32-key tiles,
// causal masks and additive biases.
func TestAttentionKernels(t *testing.T) {
	c := NewEmulator()
	ks, err := c.LoadKernels()
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 8))
	rnd := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		return x
	}
	up := func(x []float32) DevicePtr {
		p, err := c.MemAlloc(uint64(4 * max(len(x), 1)))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Upload(p, x); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, s := range []struct {
		B, nq, nk, H, hd int
		causal, bias     bool
	}{
		{2, 9, 45, 3, 64, false, true},
		{1, 33, 33, 2, 7, true, false},
		{1, 5, 70, 1, 128, false, false},
		{2, 6, 1, 2, 30, false, true},
		{1, 40, 40, 1, 33, true, true},
	} {
		D := s.H * s.hd
		q, k, v := rnd(s.B*s.nq*D), rnd(s.B*s.nk*D), rnd(s.B*s.nk*D)
		var bias []float32
		bp := DevicePtr(0)
		if s.bias {
			bias = rnd(s.H * s.nq * s.nk)
			bp = up(bias)
		}
		want := refAttention(q, k, v, bias, s.B, s.nq, s.nk, s.H, s.hd, s.causal)
		causal := uint32(0)
		if s.causal {
			causal = 1
		}
		for _, name := range []string{"plp_attention", "plp_attention_kp"} {
			t.Run(fmt.Sprintf("%s/B%d_q%d_k%d_H%d_hd%d_causal%v_bias%v", name, s.B, s.nq, s.nk, s.H, s.hd, s.causal, s.bias), func(t *testing.T) {
				o := up(make([]float32, len(want)))
				meta := []uint32{uint32(s.nq), uint32(s.nk), uint32(s.H), uint32(s.hd), causal}
				err := ks.Get(name).Launch(Dim3{(s.nq + 3) / 4, s.H, s.B}, Dim3{128, 1, 1}, 0,
					o, up(q), up(k), up(v), bp, float32(1/math.Sqrt(float64(s.hd))), meta)
				if err != nil {
					t.Fatal(err)
				}
				got := make([]float32, len(want))
				if err := c.Download(got, o); err != nil {
					t.Fatal(err)
				}
				for i := range got {
					if d := math.Abs(float64(got[i]) - want[i]); d > 1e-5*(1+math.Abs(want[i])) || math.IsNaN(d) {
						t.Fatalf("element %d = %v, want %v", i, got[i], want[i])
					}
				}
			})
		}
	}
}
