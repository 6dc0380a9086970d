package tensor_test

import (
	"math"
	"testing"

	"plp/tensor"
	"plp/weights"
)

// opsFixture reads testdata/ops_grads.safetensors: per-op inputs, upstream gradients, outputs and input
// gradients computed by PyTorch autograd in float64.
type opsFixture struct {
	t  *testing.T
	st *weights.Safetensors
	be tensor.CPU
}

func openOps(t *testing.T) *opsFixture {
	st, err := weights.OpenSafetensors("testdata/ops_grads.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &opsFixture{t: t, st: st}
}

func (f *opsFixture) get(name string) *tensor.Tensor {
	w, err := f.st.Tensor(name)
	if err != nil {
		f.t.Fatal(err)
	}
	v, err := w.Float32()
	if err != nil {
		f.t.Fatal(err)
	}
	return f.be.FromHost(v, w.Shape...)
}

// check compares got with the reference by max|G-T|/max|T| <= tol.
func (f *opsFixture) check(name string, got *tensor.Tensor, tol float64) {
	f.t.Helper()
	want := f.get(name)
	if !tensor.SameShape(got.Shape(), want.Shape()) && got.Numel() != want.Numel() {
		f.t.Errorf("%s: shape %v, want %v", name, got.Shape(), want.Shape())
		return
	}
	g, w := tensor.Host(got), tensor.Host(want)
	var maxErr, maxRef float64
	for i := range w {
		maxErr = math.Max(maxErr, math.Abs(float64(g[i])-float64(w[i])))
		maxRef = math.Max(maxRef, math.Abs(float64(w[i])))
	}
	if e := maxErr / maxRef; !(e <= tol) {
		f.t.Errorf("%s: error %.3g > %.3g", name, e, tol)
	}
}

func TestBackwardOpsFixtures(t *testing.T) {
	f := openOps(t)
	be := f.be
	for _, c := range []struct {
		op  string
		eps float32
	}{{"layer_norm_eps1e-6", 1e-6}, {"layer_norm_eps1e-5", 1e-5}} {
		x, w, b, gy := f.get(c.op+"/x"), f.get(c.op+"/weight"), f.get(c.op+"/bias"), f.get(c.op+"/gy")
		f.check(c.op+"/y", be.LayerNorm(x, w, b, c.eps), 5e-4)
		dx, dw, db := be.LayerNormBackward(x, w, gy, c.eps)
		f.check(c.op+"/grad_x", dx, 5e-4)
		f.check(c.op+"/grad_weight", dw, 5e-4)
		f.check(c.op+"/grad_bias", db, 5e-4)
	}
	for _, c := range []struct {
		op  string
		act tensor.Act
	}{{"gelu_erf", tensor.GELU}, {"quick_gelu", tensor.QuickGELU}} {
		x, gy := f.get(c.op+"/x"), f.get(c.op+"/gy")
		f.check(c.op+"/y", be.Activation(x, c.act), 1e-5)
		f.check(c.op+"/grad_x", be.ActivationBackward(x, gy, c.act), 1e-5)
	}
	{
		x, gy := f.get("softmax/x"), f.get("softmax/gy")
		y := be.Softmax(x)
		f.check("softmax/y", y, 1e-5)
		f.check("softmax/grad_x", be.SoftmaxBackward(y, gy), 1e-5)
	}
	for _, c := range []struct {
		op     string
		causal bool
	}{{"attention", false}, {"attention_causal", true}} {
		// The fixture splits heads: [B, H, N, hd]; the backend packs them as [B, N, H·hd].
		pack := func(t *tensor.Tensor) *tensor.Tensor {
			s := t.Shape()
			return be.Permute(t, 0, 2, 1, 3).Reshape(s[0], s[2], s[1]*s[3])
		}
		unpack := func(t *tensor.Tensor, heads int) *tensor.Tensor {
			s := t.Shape()
			return be.Permute(t.Reshape(s[0], s[1], heads, s[2]/heads), 0, 2, 1, 3)
		}
		q, k, v, gy := f.get(c.op+"/q"), f.get(c.op+"/k"), f.get(c.op+"/v"), f.get(c.op+"/gy")
		H := q.Dim(1)
		opt := tensor.AttnOpts{Causal: c.causal}
		f.check(c.op+"/y", unpack(be.Attention(pack(q), pack(k), pack(v), H, opt), H), 1e-5)
		dq, dk, dv := be.AttentionBackward(pack(q), pack(k), pack(v), pack(gy), H, opt)
		f.check(c.op+"/grad_q", unpack(dq, H), 1e-5)
		f.check(c.op+"/grad_k", unpack(dk, H), 1e-5)
		f.check(c.op+"/grad_v", unpack(dv, H), 1e-5)
	}
	for _, c := range []struct {
		op string
		p  tensor.Conv
	}{{"conv2d_s2_p1", tensor.Conv{StrideH: 2, StrideW: 2, PadH: 1, PadW: 1, Groups: 1}}, {"dwconv7x7_p3", tensor.Conv{StrideH: 1, StrideW: 1, PadH: 3, PadW: 3, Groups: 4}}} {
		x, w, b, gy := f.get(c.op+"/x"), f.get(c.op+"/weight"), f.get(c.op+"/bias"), f.get(c.op+"/gy")
		f.check(c.op+"/y", be.Conv2D(x, w, b, c.p), 1e-5)
		dx, dw, db := be.Conv2DBackward(x, w, gy, c.p)
		f.check(c.op+"/grad_x", dx, 1e-5)
		f.check(c.op+"/grad_weight", dw, 1e-5)
		f.check(c.op+"/grad_bias", db, 1e-5)
	}
	{
		p := tensor.Pool{Kind: tensor.AvgPool, KH: 2, KW: 2, StrideH: 2, StrideW: 2}
		x, gy := f.get("avg_pool2x2/x"), f.get("avg_pool2x2/gy")
		f.check("avg_pool2x2/y", be.Pool2D(x, p), 1e-5)
		f.check("avg_pool2x2/grad_x", be.Pool2DBackward(x, gy, p), 1e-5)
	}
}
