package train

import (
	"testing"

	"plp/imaging"
	"plp/tensor"
	"plp/weights"
)

// opsCheck compares a result with testdata/ops_grads.safetensors (PyTorch float64 autograd) by the
// fixtures' metric max|G-T|/max|T|.
func opsCheck(t *testing.T, st weights.Store, name string, got *tensor.Tensor, tol float64) {
	t.Helper()
	want := f32(t, st, name)
	if e := relErr(tensor.CPU{}.ToHost(got), want); !(e <= tol) {
		t.Errorf("%s: error %.3g > %g", name, e, tol)
	}
}

func opsTensor(t *testing.T, st weights.Store, name string) *tensor.Tensor {
	return tensor.CPU{}.FromHost(f32(t, st, name), shapeOf(t, st, name)...)
}

func opsLabels(t *testing.T, st weights.Store, name string) []int {
	w, err := st.Tensor(name)
	if err != nil {
		t.Fatal(err)
	}
	v, err := w.Int64()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}

func TestOpsFixtures(t *testing.T) {
	be := tensor.CPU{}
	st := openST(t, "ops_grads.safetensors")
	t.Run("linear", func(t *testing.T) {
		tp := NewTape(be)
		x, w, b := Input(opsTensor(t, st, "linear/x")), Input(opsTensor(t, st, "linear/weight")), Input(opsTensor(t, st, "linear/bias"))
		y := tp.Linear(x, w, b)
		tp.Backward(tp.Sum(tp.Mul(y, Const(opsTensor(t, st, "linear/gy")))))
		opsCheck(t, st, "linear/y", y.Value, 1e-5)
		opsCheck(t, st, "linear/grad_x", x.Grad, 1e-5)
		opsCheck(t, st, "linear/grad_weight", w.Grad, 1e-5)
		opsCheck(t, st, "linear/grad_bias", b.Grad, 1e-5)
	})
	for _, c := range []struct {
		op        string
		smoothing float64
	}{{"log_softmax_nll", 0}, {"cross_entropy_ls0.1", 0.1}} {
		t.Run(c.op, func(t *testing.T) {
			tp := NewTape(be)
			z := Input(opsTensor(t, st, c.op+"/z"))
			loss := tp.CrossEntropy(z, opsLabels(t, st, c.op+"/labels"), c.smoothing)
			tp.Backward(loss)
			opsCheck(t, st, c.op+"/loss", loss.Value, 1e-5)
			opsCheck(t, st, c.op+"/grad_z", z.Grad, 1e-5)

			// The soft-target loss with smoothed one-hot targets is the same function.
			tp = NewTape(be)
			z2 := Input(opsTensor(t, st, c.op+"/z"))
			labels := opsLabels(t, st, c.op+"/labels")
			C := z2.Value.Dim(1)
			q := make([]float64, len(labels)*C)
			for i, l := range labels {
				for k := 0; k < C; k++ {
					q[i*C+k] = c.smoothing / float64(C)
				}
				q[i*C+l] += 1 - c.smoothing
			}
			soft := tp.SoftCrossEntropy(z2, q)
			tp.Backward(soft)
			opsCheck(t, st, c.op+"/loss", soft.Value, 1e-5)
			opsCheck(t, st, c.op+"/grad_z", z2.Grad, 1e-5)
		})
	}
	t.Run("adv_cos_smooth", func(t *testing.T) {
		const op = "adv_cos_smooth/"
		W, b := Const(opsTensor(t, st, op+"W")), Const(opsTensor(t, st, op+"b"))
		var feats *Var
		embed := func(tp *Tape, x *Var) (*Var, error) {
			feats = tp.Linear(tp.Reshape(x, x.Value.Dim(0), -1), W, b)
			return feats, nil
		}
		run := func(pick func(loss, cosTerm, smoothTerm *Var) *Var) (*Tape, *Var, [3]*Var) {
			tp := NewTape(be)
			p := Input(opsTensor(t, st, op+"p"))
			loss, ct, sm, err := tp.AdversarialLoss(embed, Const(opsTensor(t, st, op+"x")), p, Const(opsTensor(t, st, op+"t")),
				imaging.OpenAIMean, imaging.OpenAIStd, 5000)
			if err != nil {
				t.Fatal(err)
			}
			tp.Backward(pick(loss, ct, sm))
			return tp, p, [3]*Var{loss, ct, sm}
		}
		tp, p, out := run(func(l, _, _ *Var) *Var { return l })
		opsCheck(t, st, op+"loss", out[0].Value, 5e-4)
		opsCheck(t, st, op+"cos_term", out[1].Value, 5e-4)
		opsCheck(t, st, op+"smooth_term", out[2].Value, 5e-4)
		opsCheck(t, st, op+"features", feats.Value, 1e-5)
		opsCheck(t, st, op+"grad_p", p.Grad, 1e-5)
		opsCheck(t, st, op+"smooth", tp.Smoothness(Const(opsTensor(t, st, op+"p"))).Value, 5e-4)
		opsCheck(t, st, op+"cos", tp.CosineSimilarity(feats, Const(opsTensor(t, st, op+"t"))).Value, 1e-5)
		_, p, _ = run(func(_, c, _ *Var) *Var { return c })
		opsCheck(t, st, op+"grad_p_cos_term", p.Grad, 1e-5)
		_, p, _ = run(func(_, _, s *Var) *Var { return s })
		opsCheck(t, st, op+"grad_p_smooth_term", p.Grad, 1e-5)
	})
}
