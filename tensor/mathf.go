package tensor

import (
	"math"

	"plp/kernels/cpu"
)

// expf is a float32 exp accurate to about 1 ulp: Cody–Waite range reduction by ln 2 and a degree-6
// polynomial. It is several times faster than math.Exp and vectorises, which matters in softmax and
// sigmoid where it runs once per attention score.
func expf(x float32) float32 {
	const (
		log2e = 1.44269504088896341
		ln2hi = 0.693359375
		ln2lo = -2.12194440e-4
	)
	if x > 88.7228 {
		return float32(math.Inf(1))
	}
	if x < -87.33654 {
		if x < -103.97 {
			return 0
		}
		return float32(math.Exp(float64(x))) // denormal results: rare, take the slow exact path
	}
	n := float32(math.Floor(float64(x*log2e + 0.5)))
	r := x - n*ln2hi - n*ln2lo
	// Taylor/minimax coefficients from Cephes expf.
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	y := p*r*r + r + 1
	return y * math.Float32frombits(uint32(int32(n)+127)<<23)
}

// erff is a float32 erf with a rational minimax approximation on [-4, 4] (beyond which erf is ±1 in
// float32), accurate to a few ulp and free of exp, so exact GELU costs little more than a multiply-add chain.
func erff(x float32) float32 {
	if x > 4 {
		x = 4
	} else if x < -4 {
		x = -4
	}
	x2 := x * x
	p := float32(-2.72614225801306e-10)
	p = p*x2 + 2.77068142495902e-08
	p = p*x2 + -2.10102402082508e-06
	p = p*x2 + -5.69250639462346e-05
	p = p*x2 + -7.34990630326855e-04
	p = p*x2 + -2.95459980854025e-03
	p = p*x2 + -1.60960333262415e-02
	p *= x
	q := float32(-1.45660718464996e-05)
	q = q*x2 + -2.13374055278905e-04
	q = q*x2 + -1.68282697438203e-03
	q = q*x2 + -7.37332916720468e-03
	q = q*x2 + -1.42647390514189e-02
	return p / q
}

// applyAct evaluates an activation on a slice in place.
func applyAct(f Act, x []float32) {
	switch f {
	case GELU:
		cpu.Gelu(x, x)
	case QuickGELU:
		cpu.QuickGelu(x, x)
	case ReLU:
		for i, v := range x {
			if v < 0 {
				x[i] = 0
			}
		}
	case Sigmoid:
		for i, v := range x {
			x[i] = 1 / (1 + expf(-v))
		}
	case Tanh:
		for i, v := range x {
			x[i] = float32(math.Tanh(float64(v)))
		}
	case Exp:
		for i, v := range x {
			x[i] = expf(v)
		}
	case Identity:
	default:
		panic("tensor: unknown activation")
	}
}

// epilogueAct maps an activation to the SGEMM epilogue's; ok is false for those the epilogue lacks.
func epilogueAct(f Act) (a cpu.Act, ok bool) {
	switch f {
	case Identity:
		return cpu.ActNone, true
	case ReLU:
		return cpu.ActReLU, true
	case GELU:
		return cpu.ActGELU, true
	case QuickGELU:
		return cpu.ActQuickGELU, true
	}
	return 0, false
}
