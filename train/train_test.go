package train

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"plp/tensor"
	"plp/weights"
)

func openST(t *testing.T, name string) *weights.Safetensors {
	t.Helper()
	s, err := weights.OpenSafetensors("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func f32(t *testing.T, s weights.Store, name string) []float32 {
	t.Helper()
	tt, err := s.Tensor(name)
	if err != nil {
		t.Fatal(err)
	}
	v, err := tt.Float32()
	if err != nil {
		t.Fatal(err)
	}
	return append([]float32(nil), v...)
}

func f64s(t *testing.T, s weights.Store, name string) []float64 {
	t.Helper()
	tt, err := s.Tensor(name)
	if err != nil {
		t.Fatal(err)
	}
	if tt.DType != weights.F64 {
		t.Fatalf("%s is %s, want F64", name, tt.DType)
	}
	out := make([]float64, tt.NumElements())
	for i := range out {
		out[i] = math.Float64frombits(binary.LittleEndian.Uint64(tt.Data[8*i:]))
	}
	return out
}

func i64(t *testing.T, s weights.Store, name string) []int {
	t.Helper()
	tt, err := s.Tensor(name)
	if err != nil {
		t.Fatal(err)
	}
	v, err := tt.Int64()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}

// within checks |got-want| <= abs + rel*|want| elementwise.
func within(t *testing.T, what string, got []float32, want []float32, abs, rel float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(float64(got[i]) - float64(want[i])); d > abs+rel*math.Abs(float64(want[i])) || math.IsNaN(d) {
			t.Fatalf("%s[%d] = %v, want %v (tolerance abs %g rel %g)", what, i, got[i], want[i], abs, rel)
		}
	}
}

func TestCosineSchedule(t *testing.T) {
	b, err := os.ReadFile("testdata/schedules.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Base       float64   `json:"base_value"`
		Final      float64   `json:"final_value"`
		Total      int       `json:"total_iters"`
		WarmupFrac float64   `json:"warmup_fraction"`
		Start      float64   `json:"start_warmup_value"`
		Values     []float64 `json:"values"`
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no schedule cases")
	}
	for i, c := range cases {
		got := CosineSchedule(c.Base, c.Final, c.Total, c.WarmupFrac, c.Start)
		if len(got) != len(c.Values) {
			t.Fatalf("case %d: %d values, want %d", i, len(got), len(c.Values))
		}
		tol := 1e-15 * math.Max(math.Abs(c.Base), math.Abs(c.Final))
		for j := range got {
			if math.Abs(got[j]-c.Values[j]) > tol {
				t.Fatalf("case %d value %d = %v, want %v", i, j, got[j], c.Values[j])
			}
		}
	}
}

func TestCrossEntropy(t *testing.T) {
	s := openST(t, "cross_entropy.safetensors")
	logits := f32(t, s, "logits")
	targets := i64(t, s, "targets")
	be := tensor.CPU{}
	for _, ls := range []string{"0.1", "0.0"} {
		var e float64
		fmt.Sscan(ls, &e)
		tp := NewTape(be)
		x := Input(be.FromHost(logits, 8, 10))
		loss := tp.CrossEntropy(x, targets, e)
		tp.Backward(loss)
		within(t, "loss ls"+ls, be.ToHost(loss.Value), f32(t, s, "loss_ls"+ls+"_f32"), 0, 1e-6)
		within(t, "grad ls"+ls, be.ToHost(x.Grad), f32(t, s, "grad_ls"+ls+"_f32"), 1e-7, 0)
	}
}

// TestProbeTraces replays the paper's linear-probe loop (25 steps, cosine schedule) for each optimizer and
// compares losses, gradients, parameters and optimizer state with PyTorch's trace.
func TestProbeTraces(t *testing.T) {
	in := openST(t, "inputs.safetensors")
	xs, ys := f32(t, in, "batches_x"), i64(t, in, "batches_y")
	const steps, B, D, C = 25, 32, 48, 10
	be := tensor.CPU{}
	for _, opt := range []string{"adam", "adamw", "sgd"} {
		t.Run(opt, func(t *testing.T) {
			tr := openST(t, "trace_"+opt+".safetensors")
			w := Param("weight", be.FromHost(f32(t, in, "init_weight"), C, D))
			b := Param("bias", be.FromHost(f32(t, in, "init_bias"), C))
			params := []*Var{w, b}
			var o Optimizer
			switch opt {
			case "adam":
				o = NewAdam(params, AdamConfig{WeightDecay: 0.001})
			case "adamw":
				o = NewAdam(params, AdamConfig{WeightDecay: 0.05, Decoupled: true})
			case "sgd":
				o = NewSGD(params, SGDConfig{Momentum: 0.9, Nesterov: true, WeightDecay: 0.001})
			}
			base := map[string]float64{"adam": 0.005, "adamw": 0.005, "sgd": 0.05}[opt]
			lrs := CosineSchedule(base, 0, steps, 0.1, 0)
			wantLR := f64s(t, tr, "lr")
			wantLoss := f32(t, tr, "loss")
			for step := 0; step < steps; step++ {
				if math.Abs(lrs[step]-wantLR[step]) > 1e-15*base {
					t.Fatalf("lr[%d] = %v, want %v", step, lrs[step], wantLR[step])
				}
				ZeroGrad(params)
				tp := NewTape(be)
				x := Const(be.FromHost(xs[step*B*D:(step+1)*B*D], B, D))
				loss := tp.CrossEntropy(tp.Linear(x, w, b), ys[step*B:(step+1)*B], 0)
				tp.Backward(loss)
				within(t, fmt.Sprintf("loss[%d]", step), be.ToHost(loss.Value), wantLoss[step:step+1], 0, 2e-5)
				if step == 0 {
					within(t, "grad_weight_step1", be.ToHost(w.Grad), f32(t, tr, "grad_weight_step1"), 1e-7, 1e-5)
					within(t, "grad_bias_step1", be.ToHost(b.Grad), f32(t, tr, "grad_bias_step1"), 1e-7, 1e-5)
				}
				o.Step(lrs[step])
				if k := step + 1; k == 1 || k == 5 || k == 25 {
					abs, rel := 1e-5, 1e-4
					if k == 1 {
						abs, rel = 1e-7, 1e-5
					}
					within(t, fmt.Sprintf("weight_after_%d", k), be.ToHost(w.Value), f32(t, tr, fmt.Sprintf("weight_after_%d", k)), abs, rel)
					within(t, fmt.Sprintf("bias_after_%d", k), be.ToHost(b.Value), f32(t, tr, fmt.Sprintf("bias_after_%d", k)), abs, rel)
					st := o.State()
					for _, pn := range []string{"weight", "bias"} {
						bufs := map[string][]string{"adam": {"exp_avg", "exp_avg_sq"}, "adamw": {"exp_avg", "exp_avg_sq"}, "sgd": {"momentum_buffer"}}[opt]
						for _, buf := range bufs {
							within(t, fmt.Sprintf("%s/%s after %d", pn, buf, k), st[pn+"/"+buf], f32(t, tr, fmt.Sprintf("state_%s_%s_after_%d", buf, pn, k)), abs*1e-2, rel)
						}
					}
				}
			}
		})
	}
}

// TestTrainProbeSeparable trains on two Gaussian blobs per class and checks the probe learns them, and that a
// fixed seed reproduces the head bit for bit.
func TestTrainProbeSeparable(t *testing.T) {
	const n, d, classes = 600, 16, 3
	r := newTestRand()
	x := make([]float32, n*d)
	y := make([]int, n)
	for i := 0; i < n; i++ {
		y[i] = i % classes
		for j := 0; j < d; j++ {
			x[i*d+j] = float32(r.NormFloat64())
		}
		x[i*d+y[i]] += 4
	}
	be := tensor.CPU{}
	cfg := ProbeConfig{Epochs: 20, Batch: 64, LR: 1e-2, WD: 1e-4, Optimizer: "adam", Seed: 7}
	var losses []float64
	h1, err := TrainProbe(be, x, n, d, y, classes, cfg, func(step, total int, loss float64) { losses = append(losses, loss) })
	if err != nil {
		t.Fatal(err)
	}
	if acc := Accuracy(h1.Logits(be, x, n), classes, y); acc < 0.97 {
		t.Fatalf("train accuracy %.3f, want >= 0.97", acc)
	}
	if len(losses) != 20*10 || losses[len(losses)-1] > losses[0]/4 {
		t.Fatalf("%d losses from %.3f to %.3f: training did not converge", len(losses), losses[0], losses[len(losses)-1])
	}
	h2, _ := TrainProbe(be, x, n, d, y, classes, cfg, nil)
	for i := range h1.Weight {
		if h1.Weight[i] != h2.Weight[i] {
			t.Fatalf("same seed, different weight[%d]: %v vs %v", i, h1.Weight[i], h2.Weight[i])
		}
	}
	if _, err := TrainProbe(be, x, n, d, y[:n-1], classes, cfg, nil); err == nil {
		t.Fatal("label count mismatch accepted")
	}
	bad := append([]int(nil), y...)
	bad[3] = classes
	if _, err := TrainProbe(be, x, n, d, bad, classes, cfg, nil); err == nil {
		t.Fatal("out-of-range label accepted")
	}
}

func newTestRand() *rand.Rand { return rand.New(rand.NewPCG(3, 4)) }
