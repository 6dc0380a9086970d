package train

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"plp/kernels/cpu"
	"plp/tensor"
)

// Optimizer updates parameters from their gradients. Step uses the given learning rate (the schedule is
// the caller's), and skips parameters without a gradient, as PyTorch does.
type Optimizer interface {
	Step(lr float64)
	// State returns named optimizer buffers (for checkpoints), keyed "<param>/<buffer>".
	State() map[string][]float32
	// SetState restores buffers saved by State; missing entries keep their current values.
	SetState(map[string][]float32, int) error
	// Steps is the number of updates taken.
	Steps() int
}

// AdamConfig holds torch.optim.Adam/AdamW settings.
type AdamConfig struct {
	Beta1, Beta2 float64 // default 0.9, 0.999
	Eps          float64 // default 1e-8
	WeightDecay  float64
	// Decoupled selects AdamW (p *= 1 - lr*wd before the update) instead of Adam's L2 term (g += wd*p).
	Decoupled bool
	// NoDecay lists parameters exempt from weight decay (e.g. biases and norms when asked).
	NoDecay map[*Var]bool
}

// Adam implements torch.optim.Adam and AdamW (amsgrad off) with PyTorch's float32 arithmetic order.
type Adam struct {
	params []*Var
	cfg    AdamConfig
	m, v   [][]float32
	step   int
}

// NewAdam returns an Adam (or AdamW) optimizer over params, which must be CPU tensors.
func NewAdam(params []*Var, cfg AdamConfig) *Adam {
	if cfg.Beta1 == 0 && cfg.Beta2 == 0 {
		cfg.Beta1, cfg.Beta2 = 0.9, 0.999
	}
	if cfg.Eps == 0 {
		cfg.Eps = 1e-8
	}
	a := &Adam{params: params, cfg: cfg}
	for _, p := range params {
		n := p.Value.Numel()
		a.m = append(a.m, make([]float32, n))
		a.v = append(a.v, make([]float32, n))
	}
	return a
}

// Step implements Optimizer.
func (a *Adam) Step(lr float64) {
	a.step++
	b1, b2 := a.cfg.Beta1, a.cfg.Beta2
	bc1 := 1 - math.Pow(b1, float64(a.step))
	bc2sqrt := float32(math.Sqrt(1 - math.Pow(b2, float64(a.step))))
	stepSize := float32(lr / bc1)
	eps := float32(a.cfg.Eps)
	f1, f2 := float32(1-b1), float32(1-b2)
	for i, p := range a.params {
		if p.Grad == nil {
			continue
		}
		w, g := tensor.Host(p.Value), tensor.Host(p.Grad)
		m, v := a.m[i], a.v[i]
		wd := float32(a.cfg.WeightDecay)
		if a.cfg.NoDecay[p] {
			wd = 0
		}
		decoupled := a.cfg.Decoupled
		k := float32(1 - lr*float64(wd))
		if !decoupled || wd == 0 {
			k = 1
		}
		l2 := float32(0)
		if !decoupled {
			l2 = wd
		}
		c := &cpu.AdamConsts{Decay: k, L2: l2, Beta1: float32(b1), OneMinB1: f1, Beta2: float32(b2), OneMinB2: f2,
			BC2Sqrt: bc2sqrt, Eps: eps, NegStep: -stepSize}
		// Elements are independent, so chunks run in parallel with results that do not depend on the split;
		// one pass per element keeps PyTorch's order (decay, moments, update).
		parallelChunks(len(w), 1<<16, func(lo, hi int) {
			cpu.AdamStep(w[lo:hi], g[lo:hi], m[lo:hi], v[lo:hi], c)
		})
	}
}

// parallelChunks runs f over [0, n) split among the cores when n is at least minN, the size that pays
// for starting goroutines.
func parallelChunks(n, minN int, f func(lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	if n < minN || workers < 2 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += chunk {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			f(lo, hi)
		}(lo, min(lo+chunk, n))
	}
	wg.Wait()
}

// State implements Optimizer.
func (a *Adam) State() map[string][]float32 {
	s := map[string][]float32{}
	for i, p := range a.params {
		s[p.Name+"/exp_avg"] = a.m[i]
		s[p.Name+"/exp_avg_sq"] = a.v[i]
	}
	return s
}

// SetState implements Optimizer.
func (a *Adam) SetState(s map[string][]float32, steps int) error {
	for i, p := range a.params {
		for _, buf := range []struct {
			key string
			dst []float32
		}{{p.Name + "/exp_avg", a.m[i]}, {p.Name + "/exp_avg_sq", a.v[i]}} {
			if v, ok := s[buf.key]; ok {
				if len(v) != len(buf.dst) {
					return fmt.Errorf("optimizer state %q has %d values, want %d", buf.key, len(v), len(buf.dst))
				}
				copy(buf.dst, v)
			}
		}
	}
	a.step = steps
	return nil
}

// Steps implements Optimizer.
func (a *Adam) Steps() int { return a.step }

// SGDConfig holds torch.optim.SGD settings.
type SGDConfig struct {
	Momentum    float64
	Dampening   float64
	Nesterov    bool
	WeightDecay float64
	NoDecay     map[*Var]bool
}

// SGD implements torch.optim.SGD.
type SGD struct {
	params []*Var
	cfg    SGDConfig
	buf    [][]float32
	step   int
}

// NewSGD returns an SGD optimizer over params, which must be CPU tensors.
func NewSGD(params []*Var, cfg SGDConfig) *SGD {
	return &SGD{params: params, cfg: cfg, buf: make([][]float32, len(params))}
}

// Step implements Optimizer.
func (s *SGD) Step(lr float64) {
	s.step++
	mom, damp := float32(s.cfg.Momentum), float32(1-s.cfg.Dampening)
	for i, p := range s.params {
		if p.Grad == nil {
			continue
		}
		w, g := tensor.Host(p.Value), tensor.Host(p.Grad)
		wd := float32(s.cfg.WeightDecay)
		if s.cfg.NoDecay[p] {
			wd = 0
		}
		d := make([]float32, len(w))
		for j := range w {
			d[j] = g[j]
			if wd != 0 {
				d[j] += wd * w[j]
			}
		}
		if mom != 0 {
			if s.buf[i] == nil {
				s.buf[i] = append([]float32(nil), d...)
			} else {
				b := s.buf[i]
				for j := range b {
					b[j] = b[j]*mom + damp*d[j]
				}
			}
			b := s.buf[i]
			for j := range d {
				if s.cfg.Nesterov {
					d[j] += mom * b[j]
				} else {
					d[j] = b[j]
				}
			}
		}
		l := float32(lr)
		for j := range w {
			w[j] += -l * d[j]
		}
	}
}

// State implements Optimizer.
func (s *SGD) State() map[string][]float32 {
	st := map[string][]float32{}
	for i, p := range s.params {
		if s.buf[i] != nil {
			st[p.Name+"/momentum_buffer"] = s.buf[i]
		}
	}
	return st
}

// SetState implements Optimizer.
func (s *SGD) SetState(st map[string][]float32, steps int) error {
	for i, p := range s.params {
		if v, ok := st[p.Name+"/momentum_buffer"]; ok {
			if len(v) != p.Value.Numel() {
				return fmt.Errorf("optimizer state %q has %d values, want %d", p.Name, len(v), p.Value.Numel())
			}
			s.buf[i] = append([]float32(nil), v...)
		}
	}
	s.step = steps
	return nil
}

// Steps implements Optimizer.
func (s *SGD) Steps() int { return s.step }
