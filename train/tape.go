// Package train holds plp's autograd and training loops: a tape-based reverse-mode autograd over the tensor
// backend, PyTorch-exact optimizers and learning-rate schedules, linear probing and fine-tuning.
package train

import (
	"fmt"

	"plp/tensor"
)

// Var is a value recorded on a Tape. Grad holds dLoss/dValue after Backward for variables that require
// gradients; it is nil until then (PyTorch's set_to_none semantics).
type Var struct {
	Value *tensor.Tensor
	Grad  *tensor.Tensor
	Name  string

	requiresGrad bool
	// back receives this variable's gradient and hands contributions to its inputs.
	back func(g *tensor.Tensor)
}

// RequiresGrad reports whether gradients flow to v.
func (v *Var) RequiresGrad() bool { return v.requiresGrad }

// Tape records operations in execution order so Backward can replay them in reverse.
type Tape struct {
	be   tensor.Backend
	vars []*Var
}

// NewTape starts an empty tape on be.
func NewTape(be tensor.Backend) *Tape { return &Tape{be: be} }

// Backend returns the tape's backend.
func (tp *Tape) Backend() tensor.Backend { return tp.be }

// Param wraps a trainable tensor (a leaf that accumulates gradients). Params outlive tapes: a training
// loop creates one tape per step and reuses the same Params.
func Param(name string, t *tensor.Tensor) *Var { return &Var{Value: t, Name: name, requiresGrad: true} }

// Const wraps a tensor that needs no gradient (inputs, frozen weights).
func Const(t *tensor.Tensor) *Var { return &Var{Value: t} }

// Input wraps a tensor whose gradient is wanted although it is not a parameter (e.g. an image being
// optimised).
func Input(t *tensor.Tensor) *Var { return &Var{Value: t, requiresGrad: true} }

// record adds the result of an op whose inputs are ins; back is called with the result's gradient only if
// some input requires gradients.
func (tp *Tape) record(value *tensor.Tensor, back func(g *tensor.Tensor), ins ...*Var) *Var {
	v := &Var{Value: value}
	for _, in := range ins {
		if in != nil && in.requiresGrad {
			v.requiresGrad = true
			v.back = back
			break
		}
	}
	if v.requiresGrad {
		tp.vars = append(tp.vars, v)
	}
	return v
}

// accumulate adds g into v's gradient.
func (tp *Tape) accumulate(v *Var, g *tensor.Tensor) {
	if v == nil || !v.requiresGrad {
		return
	}
	if !tensor.SameShape(v.Value.Shape(), g.Shape()) {
		if g.Numel() != v.Value.Numel() {
			panic(fmt.Sprintf("train: gradient %v for value %v", g.Shape(), v.Value.Shape()))
		}
		g = g.Reshape(v.Value.Shape()...)
	}
	if v.Grad == nil {
		v.Grad = g
		return
	}
	v.Grad = tp.be.Add(v.Grad, g)
}

// Backward computes gradients of the scalar loss with respect to every variable that requires them.
// Gradients of intermediate variables are released as the sweep passes them; leaves keep theirs.
func (tp *Tape) Backward(loss *Var) {
	if loss.Value.Numel() != 1 {
		panic(fmt.Sprintf("train: Backward of a non-scalar %v", loss.Value.Shape()))
	}
	if !loss.requiresGrad {
		return
	}
	tp.accumulate(loss, tp.be.FromHost([]float32{1}, loss.Value.Shape()...))
	for i := len(tp.vars) - 1; i >= 0; i-- {
		v := tp.vars[i]
		if v.Grad == nil || v.back == nil {
			continue
		}
		g := v.Grad
		v.Grad = nil
		v.back(g)
	}
	tp.vars = nil
}

// ZeroGrad drops the gradients of params (set_to_none).
func ZeroGrad(params []*Var) {
	for _, p := range params {
		p.Grad = nil
	}
}
