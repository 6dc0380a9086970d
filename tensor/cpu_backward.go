package tensor

import (
	"fmt"
	"math"

	"plp/kernels/cpu"
)

// Backward passes of the CPU backend. Reductions over rows (weight and bias gradients) are summed per fixed
// chunk and then in chunk order, so results do not depend on the number of cores: training runs are
// bit-reproducible.

// reduceChunks is the fixed number of partial sums of a row-reduction.
const reduceChunks = 16

// chunked runs f over at most reduceChunks fixed chunks of [0, n) in parallel; f gets the chunk index.
func chunked(n int, f func(chunk, lo, hi int)) int {
	k := min(reduceChunks, max(n, 1))
	size := (n + k - 1) / max(k, 1)
	parallelFor(k, 1, func(clo, chi int) {
		for c := clo; c < chi; c++ {
			lo, hi := c*size, min((c+1)*size, n)
			if lo < hi {
				f(c, lo, hi)
			}
		}
	})
	return k
}

func checkSame(op string, a, b *Tensor) {
	if !SameShape(a.shape, b.shape) {
		panic(fmt.Sprintf("tensor: %s of %v with gradient %v", op, a.shape, b.shape))
	}
}

// LayerNormBackward implements Backend.
func (c CPU) LayerNormBackward(x, w, dy *Tensor, eps float32) (dx, dw, db *Tensor) {
	checkSame("LayerNormBackward", x, dy)
	rows, n := rowsOf(x)
	var wd []float32
	if w != nil {
		if w.Numel() != n {
			panic(fmt.Sprintf("tensor: LayerNormBackward of %v with weight %v", x.shape, w.shape))
		}
		wd = host(w)
	}
	xd, gd := host(x), host(dy)
	dx, out := c.newResult(x.shape...)
	partW := make([][]float64, reduceChunks)
	partB := make([][]float64, reduceChunks)
	k := chunked(rows, func(ch, lo, hi int) {
		pw, pb := make([]float64, n), make([]float64, n)
		xhat := make([]float64, n)
		g := make([]float64, n)
		for r := lo; r < hi; r++ {
			xr, dr := xd[r*n:(r+1)*n], gd[r*n:(r+1)*n]
			var s float64
			for _, v := range xr {
				s += float64(v)
			}
			mean := s / float64(n)
			var ss float64
			for _, v := range xr {
				d := float64(v) - mean
				ss += d * d
			}
			rstd := 1 / math.Sqrt(ss/float64(n)+float64(eps))
			var mg, mgx float64
			for i, v := range xr {
				xh := (float64(v) - mean) * rstd
				xhat[i] = xh
				gi := float64(dr[i])
				pw[i] += gi * xh
				pb[i] += gi
				if wd != nil {
					gi *= float64(wd[i])
				}
				g[i] = gi
				mg += gi
				mgx += gi * xh
			}
			mg /= float64(n)
			mgx /= float64(n)
			o := out[r*n : (r+1)*n]
			for i := range o {
				o[i] = float32(rstd * (g[i] - mg - xhat[i]*mgx))
			}
		}
		partW[ch], partB[ch] = pw, pb
	})
	if w == nil {
		return dx, nil, nil
	}
	return dx, c.wrap(sumParts(partW[:k], n), w.shape...), c.wrap(sumParts(partB[:k], n), w.shape...)
}

// sumParts adds per-chunk float64 partial sums in chunk order.
func sumParts(parts [][]float64, n int) []float32 {
	acc := make([]float64, n)
	for _, p := range parts {
		for i, v := range p {
			acc[i] += v
		}
	}
	out := make([]float32, n)
	for i, v := range acc {
		out[i] = float32(v)
	}
	return out
}

// ActivationBackward implements Backend.
func (c CPU) ActivationBackward(x, dy *Tensor, f Act) *Tensor {
	checkSame("ActivationBackward", x, dy)
	xd, gd := host(x), host(dy)
	res, out := c.newResult(x.shape...)
	parallelFor(len(xd), 1<<14, func(lo, hi int) {
		actGrad(f, out[lo:hi], xd[lo:hi], gd[lo:hi])
	})
	return res
}

// ActivationBiasBackward is the backward pass of f(y + b) for the pre-activation x = y + b [..., n]: it
// returns dx = dy·f'(x) and db, the sum of dx over all rows, from one pass over the rows. x may be nil when
// f is Identity, and then dx is dy itself. Row chunks are fixed, so db does not depend on the number of
// cores.
func (c CPU) ActivationBiasBackward(x, dy *Tensor, f Act) (dx, db *Tensor) {
	rows, n := rowsOf(dy)
	gd := host(dy)
	var xd, out []float32
	if f == Identity {
		dx, out = dy, gd
	} else {
		checkSame("ActivationBiasBackward", x, dy)
		xd = host(x)
		dx, out = c.newResult(x.shape...)
	}
	parts := make([][]float64, reduceChunks)
	k := chunked(rows, func(ch, lo, hi int) {
		if f != Identity {
			actGrad(f, out[lo*n:hi*n], xd[lo*n:hi*n], gd[lo*n:hi*n])
		}
		p := make([]float64, n)
		for r := lo; r < hi; r++ {
			for i, v := range out[r*n : (r+1)*n] {
				p[i] += float64(v)
			}
		}
		parts[ch] = p
	})
	return dx, c.wrap(sumParts(parts[:k], n), n)
}

// actBlock is the stretch of elements whose GELU gradient is assembled in stack buffers.
const actBlock = 512

// actGrad writes dy·f'(x) to every element of dst.
func actGrad(f Act, dst, x, dy []float32) {
	switch f {
	case GELU:
		// d/dx xΦ(x) = Φ(x) + x·φ(x), with the vector kernels: Φ(x) = GELU(x)/x (relative error of
		// GELU's, 2e-6) and φ from exp(-x²/2). Blocks of actBlock elements keep both in stack buffers
		// that stay in L1 between the passes.
		const invSqrt2Pi = 0.3989422804014327
		var cdfBuf, pdfBuf [actBlock]float32
		for lo := 0; lo < len(x); lo += actBlock {
			hi := min(lo+actBlock, len(x))
			xs, gs, ds := x[lo:hi], dy[lo:hi], dst[lo:hi]
			cdf, pdf := cdfBuf[:len(xs)], pdfBuf[:len(xs)]
			cpu.Gelu(cdf, xs)
			for i, v := range xs {
				pdf[i] = -0.5 * v * v
			}
			cpu.ExpSub(pdf, pdf, 0)
			for i, v := range xs {
				c := float32(0.5)
				if v != 0 {
					c = cdf[i] / v
				}
				ds[i] = gs[i] * (c + v*invSqrt2Pi*pdf[i])
			}
		}
	case QuickGELU:
		for i, v := range x {
			s := 1 / (1 + expf(-1.702*v))
			dst[i] = dy[i] * (s + 1.702*v*s*(1-s))
		}
	case ReLU:
		for i, v := range x {
			dst[i] = 0
			if v > 0 {
				dst[i] = dy[i]
			}
		}
	case Sigmoid:
		for i, v := range x {
			s := 1 / (1 + expf(-v))
			dst[i] = dy[i] * s * (1 - s)
		}
	case Tanh:
		for i, v := range x {
			t := float32(math.Tanh(float64(v)))
			dst[i] = dy[i] * (1 - t*t)
		}
	case Identity:
		copy(dst, dy)
	case Exp:
		for i, v := range x {
			dst[i] = dy[i] * expf(v)
		}
	default:
		panic("tensor: unknown activation")
	}
}

// SoftmaxBackward implements Backend.
func (c CPU) SoftmaxBackward(y, dy *Tensor) *Tensor {
	checkSame("SoftmaxBackward", y, dy)
	rows, n := rowsOf(y)
	yd, gd := host(y), host(dy)
	out := make([]float32, len(yd))
	parallelFor(rows, max(1, 4096/max(n, 1)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			softmaxGradRow(out[r*n:(r+1)*n], yd[r*n:(r+1)*n], gd[r*n:(r+1)*n])
		}
	})
	return c.wrap(out, y.shape...)
}

// softmaxGradRow writes y·(dy - Σ y·dy).
func softmaxGradRow(dst, y, dy []float32) {
	var dot float32
	for i, v := range y {
		dot += v * dy[i]
	}
	for i, v := range y {
		dst[i] = v * (dy[i] - dot)
	}
}

// L2NormalizeBackward implements Backend.
func (c CPU) L2NormalizeBackward(x, dy *Tensor, eps float32) *Tensor {
	checkSame("L2NormalizeBackward", x, dy)
	rows, n := rowsOf(x)
	xd, gd := host(x), host(dy)
	out := make([]float32, len(xd))
	parallelFor(rows, max(1, 4096/max(n, 1)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, gr, o := xd[r*n:(r+1)*n], gd[r*n:(r+1)*n], out[r*n:(r+1)*n]
			var ss, dot float64
			for i, v := range xr {
				ss += float64(v) * float64(v)
				dot += float64(v) * float64(gr[i])
			}
			norm := math.Sqrt(ss)
			if norm <= float64(eps) {
				// Below eps the divisor is the constant eps.
				for i, g := range gr {
					o[i] = float32(float64(g) / float64(eps))
				}
				continue
			}
			// y = x/|x|: dx = (dy - y(y·dy))/|x|
			for i, v := range xr {
				o[i] = float32((float64(gr[i]) - float64(v)*dot/ss) / norm)
			}
		}
	})
	return c.wrap(out, x.shape...)
}

// AttentionBackward implements Backend.
func (c CPU) AttentionBackward(q, k, v, dy *Tensor, heads int, opt AttnOpts) (dq, dk, dv *Tensor) {
	if q.Rank() != 3 || k.Rank() != 3 || v.Rank() != 3 || !SameShape(k.shape, v.shape) || !SameShape(q.shape, dy.shape) ||
		q.shape[0] != k.shape[0] || q.shape[2] != k.shape[2] || heads <= 0 || q.shape[2]%heads != 0 {
		panic(fmt.Sprintf("tensor: AttentionBackward of q %v k %v v %v dy %v with %d heads", q.shape, k.shape, v.shape, dy.shape, heads))
	}
	B, nq, D := q.shape[0], q.shape[1], q.shape[2]
	nk := k.shape[1]
	qd, kd, vd := host(q), host(k), host(v)
	dqd, dkd, dvd := make([]float32, len(qd)), make([]float32, len(kd)), make([]float32, len(vd))
	attentionGrad(attnGradArgs{
		q: qd, k: kd, v: vd, dy: host(dy), dq: dqd, dk: dkd, dv: dvd,
		ldq: D, ldkv: D, ldo: D, qRows: nq, dqRows: nq,
		B: B, nq: nq, nk: nk, D: D, heads: heads, bias: attnBias(opt, heads, nq, nk), causal: opt.Causal,
	})
	return c.wrap(dqd, q.shape...), c.wrap(dkd, k.shape...), c.wrap(dvd, v.shape...)
}

// AttentionBackwardPacked is AttentionBackward for q, k and v packed one after the other in the last
// dimension of qkv [B, N, 3D] (PyTorch's in_proj layout), where only the first nq positions are queries:
// dy is [B, nq, D]. It reads q, k and v in place and returns their gradients packed the same way,
// [B, N, 3D], with zeros in the q part of the rows that were not queries. opt.Lens is not supported.
func (c CPU) AttentionBackwardPacked(qkv, dy *Tensor, heads int, opt AttnOpts) *Tensor {
	if qkv.Rank() != 3 || dy.Rank() != 3 || qkv.shape[2]%3 != 0 || heads <= 0 || opt.Lens != nil {
		panic(fmt.Sprintf("tensor: AttentionBackwardPacked of qkv %v dy %v with %d heads", qkv.shape, dy.shape, heads))
	}
	B, N, D := qkv.shape[0], qkv.shape[1], qkv.shape[2]/3
	nq := dy.shape[1]
	if dy.shape[0] != B || dy.shape[2] != D || nq > N || D%heads != 0 {
		panic(fmt.Sprintf("tensor: AttentionBackwardPacked of qkv %v dy %v with %d heads", qkv.shape, dy.shape, heads))
	}
	x := host(qkv)
	// dk and dv are accumulated over query blocks, and rows that were not queries have no q gradient:
	// the result starts from zeros.
	out := make([]float32, len(x))
	attentionGrad(attnGradArgs{
		q: x, k: x[D:], v: x[2*D:], dy: host(dy), dq: out, dk: out[D:], dv: out[2*D:],
		ldq: 3 * D, ldkv: 3 * D, ldo: 3 * D, qRows: N, dqRows: N,
		B: B, nq: nq, nk: N, D: D, heads: heads, bias: attnBias(opt, heads, nq, N), causal: opt.Causal,
	})
	return c.wrap(out, qkv.shape...)
}

func attnBias(opt AttnOpts, heads, nq, nk int) []float32 {
	if opt.Bias == nil {
		return nil
	}
	if !SameShape(opt.Bias.shape, []int{heads, nq, nk}) {
		panic(fmt.Sprintf("tensor: Attention bias %v, want [%d %d %d]", opt.Bias.shape, heads, nq, nk))
	}
	return host(opt.Bias)
}

// attnGradArgs locates the operands of attentionGrad. q, k and v have row strides ldq and ldkv, dy has
// row stride D, and the three gradients share the row stride ldo. Sequence b's queries start at row b·qRows
// of q and b·dqRows of dq, its keys and values at row b·nk of k, v, dk and dv.
type attnGradArgs struct {
	q, k, v, dy, dq, dk, dv []float32
	ldq, ldkv, ldo          int
	qRows, dqRows           int
	B, nq, nk, D, heads     int
	bias                    []float32
	causal                  bool
}

// attentionGrad accumulates the gradients of softmax(q·kᵀ/√d + bias)·v into dq, dk and dv, which must
// hold zeros (dq may hold anything: it is overwritten).
func attentionGrad(a attnGradArgs) {
	nq, nk, D := a.nq, a.nk, a.D
	hd := D / a.heads
	scale := float32(1 / math.Sqrt(float64(hd)))
	// One task per (batch, head): dk and dv sum over all query blocks of the head, so a task owns them.
	parallelFor(a.B*a.heads, 1, func(lo, hi int) {
		p := make([]float32, attnBlock*nk)
		dp := make([]float32, attnBlock*nk)
		for t := lo; t < hi; t++ {
			b, h := t/a.heads, t%a.heads
			ko := b*nk*a.ldkv + h*hd
			kgo := b*nk*a.ldo + h*hd
			for i0 := 0; i0 < nq; i0 += attnBlock {
				bq := min(attnBlock, nq-i0)
				qo := (b*a.qRows+i0)*a.ldq + h*hd
				go_ := (b*nq+i0)*D + h*hd
				dqo := (b*a.dqRows+i0)*a.ldo + h*hd
				s, ds := p[:bq*nk], dp[:bq*nk]
				sgemm(false, true, bq, nk, hd, scale, a.q[qo:], a.ldq, a.k[ko:], a.ldkv, 0, s, nk)
				for i := 0; i < bq; i++ {
					row := s[i*nk : (i+1)*nk]
					if a.bias != nil {
						br := a.bias[(h*nq+i0+i)*nk:]
						for j := range row {
							row[j] += br[j]
						}
					}
					if a.causal {
						for j := i0 + i + 1; j < nk; j++ {
							row[j] = float32(math.Inf(-1))
						}
					}
					softmaxRow(row)
				}
				// dV += Pᵀ dY; dP = dY Vᵀ; dS = P∘(dP - rowsum(P∘dP)); dQ = scale·dS K; dK += scale·dSᵀ Q.
				sgemm(true, false, nk, hd, bq, 1, s, nk, a.dy[go_:], D, 1, a.dv[kgo:], a.ldo)
				sgemm(false, true, bq, nk, hd, 1, a.dy[go_:], D, a.v[ko:], a.ldkv, 0, ds, nk)
				for i := 0; i < bq; i++ {
					softmaxGradRow(ds[i*nk:(i+1)*nk], s[i*nk:(i+1)*nk], ds[i*nk:(i+1)*nk])
				}
				sgemm(false, false, bq, hd, nk, scale, ds, nk, a.k[ko:], a.ldkv, 0, a.dq[dqo:], a.ldo)
				sgemm(true, false, nk, hd, bq, scale, ds, nk, a.q[qo:], a.ldq, 1, a.dk[kgo:], a.ldo)
			}
		}
	})
}

// Conv2DBackward implements Backend.
func (c CPU) Conv2DBackward(x, w, dy *Tensor, p Conv) (dx, dw, db *Tensor) {
	ho, wo := convGeom("Conv2DBackward", x, w, &p)
	B, cin, H, W := x.shape[0], x.shape[1], x.shape[2], x.shape[3]
	cout, cpg, kh, kw := w.shape[0], w.shape[1], w.shape[2], w.shape[3]
	g := p.Groups
	if !SameShape(dy.shape, []int{B, cout, ho, wo}) {
		panic(fmt.Sprintf("tensor: Conv2DBackward of %v with weight %v, gradient %v, groups %d", x.shape, w.shape, dy.shape, g))
	}
	xd, wd, gd := host(x), host(w), host(dy)
	dxd, dwd, dbd := make([]float32, len(xd)), make([]float32, len(wd)), make([]float32, cout)
	hw := ho * wo
	parallelFor(cout, 1, func(lo, hi int) {
		for o := lo; o < hi; o++ {
			var s float64
			for b := 0; b < B; b++ {
				for _, v := range gd[(b*cout+o)*hw : (b*cout+o+1)*hw] {
					s += float64(v)
				}
			}
			dbd[o] = float32(s)
		}
	})
	if cpg == 1 && cout == cin {
		depthwiseBackward(dxd, dwd, xd, wd, gd, B, cin, H, W, kh, kw, ho, wo, p)
		return c.wrap(dxd, x.shape...), c.wrap(dwd, w.shape...), c.wrap(dbd, cout)
	}
	copg := cout / g
	kk := cpg * kh * kw
	direct := kh == 1 && kw == 1 && p.StrideH == 1 && p.StrideW == 1 && p.PadH == 0 && p.PadW == 0
	cols := make([]float32, kk*hw)
	dcols := cols
	if !direct {
		dcols = make([]float32, kk*hw)
	}
	for b := 0; b < B; b++ {
		for gi := 0; gi < g; gi++ {
			xin := xd[(b*cin+gi*cpg)*H*W : (b*cin+(gi+1)*cpg)*H*W]
			src := xin
			if !direct {
				im2col(cols, xin, cpg, H, W, kh, kw, ho, wo, p)
				src = cols
			}
			gy := gd[(b*cout+gi*copg)*hw:]
			wg := wd[gi*copg*kk:]
			// dW_g += dY_g · colsᵀ; dcols = W_gᵀ · dY_g
			sgemm(false, true, copg, kk, hw, 1, gy, hw, src, hw, 1, dwd[gi*copg*kk:], kk)
			dxin := dxd[(b*cin+gi*cpg)*H*W : (b*cin+(gi+1)*cpg)*H*W]
			if direct {
				sgemm(true, false, kk, hw, copg, 1, wg, kk, gy, hw, 0, dxin, hw)
				continue
			}
			sgemm(true, false, kk, hw, copg, 1, wg, kk, gy, hw, 0, dcols, hw)
			col2im(dxin, dcols, cpg, H, W, kh, kw, ho, wo, p)
		}
	}
	return c.wrap(dxd, x.shape...), c.wrap(dwd, w.shape...), c.wrap(dbd, cout)
}

// col2im adds patch-row gradients back onto the image (im2col's adjoint); channels are independent.
func col2im(dx, cols []float32, cin, H, W, kh, kw, ho, wo int, p Conv) {
	parallelFor(cin, 1, func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			plane := dx[ch*H*W : (ch+1)*H*W]
			for ky := 0; ky < kh; ky++ {
				for kx := 0; kx < kw; kx++ {
					row := cols[((ch*kh+ky)*kw+kx)*ho*wo:]
					for oy := 0; oy < ho; oy++ {
						iy := oy*p.StrideH - p.PadH + ky
						if iy < 0 || iy >= H {
							continue
						}
						for ox := 0; ox < wo; ox++ {
							ix := ox*p.StrideW - p.PadW + kx
							if ix < 0 || ix >= W {
								continue
							}
							plane[iy*W+ix] += row[oy*wo+ox]
						}
					}
				}
			}
		}
	})
}

// depthwiseBackward handles one input channel per group; a task owns a channel across the batch, so its
// weight gradient needs no reduction across tasks.
func depthwiseBackward(dx, dw, xd, wd, gd []float32, B, C, H, W, kh, kw, ho, wo int, p Conv) {
	parallelFor(C, 1, func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			k := wd[ch*kh*kw : (ch+1)*kh*kw]
			dk := dw[ch*kh*kw : (ch+1)*kh*kw]
			for b := 0; b < B; b++ {
				bc := b*C + ch
				plane := xd[bc*H*W : (bc+1)*H*W]
				dplane := dx[bc*H*W : (bc+1)*H*W]
				gy := gd[bc*ho*wo : (bc+1)*ho*wo]
				for ky := 0; ky < kh; ky++ {
					for kx := 0; kx < kw; kx++ {
						wv := k[ky*kw+kx]
						var acc float32
						for oy := 0; oy < ho; oy++ {
							iy := oy*p.StrideH - p.PadH + ky
							if iy < 0 || iy >= H {
								continue
							}
							for ox := 0; ox < wo; ox++ {
								ix := ox*p.StrideW - p.PadW + kx
								if ix < 0 || ix >= W {
									continue
								}
								gv := gy[oy*wo+ox]
								acc += gv * plane[iy*W+ix]
								dplane[iy*W+ix] += wv * gv
							}
						}
						dk[ky*kw+kx] += acc
					}
				}
			}
		}
	})
}

// Pool2DBackward implements Backend.
func (c CPU) Pool2DBackward(x, dy *Tensor, p Pool) *Tensor {
	ho, wo := poolGeom("Pool2DBackward", x, &p)
	B, C, H, W := x.shape[0], x.shape[1], x.shape[2], x.shape[3]
	if !SameShape(dy.shape, []int{B, C, ho, wo}) {
		panic(fmt.Sprintf("tensor: Pool2DBackward of %v with gradient %v", x.shape, dy.shape))
	}
	xd, gd := host(x), host(dy)
	out := make([]float32, len(xd))
	inv := 1 / float32(p.KH*p.KW)
	parallelFor(B*C, 1, func(lo, hi int) {
		for bc := lo; bc < hi; bc++ {
			plane := xd[bc*H*W : (bc+1)*H*W]
			dplane := out[bc*H*W : (bc+1)*H*W]
			gy := gd[bc*ho*wo : (bc+1)*ho*wo]
			for oy := 0; oy < ho; oy++ {
				for ox := 0; ox < wo; ox++ {
					gv := gy[oy*wo+ox]
					best, at := float32(math.Inf(-1)), -1
					for ky := 0; ky < p.KH; ky++ {
						iy := oy*p.StrideH - p.PadH + ky
						if iy < 0 || iy >= H {
							continue
						}
						for kx := 0; kx < p.KW; kx++ {
							ix := ox*p.StrideW - p.PadW + kx
							if ix < 0 || ix >= W {
								continue
							}
							if p.Kind == AvgPool {
								dplane[iy*W+ix] += gv * inv
							} else if v := plane[iy*W+ix]; v > best || at < 0 {
								best, at = v, iy*W+ix
							}
						}
					}
					if p.Kind == MaxPool && at >= 0 {
						dplane[at] += gv
					}
				}
			}
		}
	})
	return c.wrap(out, x.shape...)
}

// ScatterAddRows implements Backend.
func (c CPU) ScatterAddRows(src *Tensor, idx []int, rows int) *Tensor {
	if src.Rank() == 0 || src.shape[0] != len(idx) {
		panic(fmt.Sprintf("tensor: ScatterAddRows of %v with %d indices", src.shape, len(idx)))
	}
	inner := Numel(src.shape[1:])
	sd := host(src)
	out := make([]float32, rows*inner)
	for i, r := range idx {
		if r < 0 || r >= rows {
			panic(fmt.Sprintf("tensor: ScatterAddRows index %d outside [0,%d)", r, rows))
		}
		dst := out[r*inner : (r+1)*inner]
		for j, v := range sd[i*inner : (i+1)*inner] {
			dst[j] += v
		}
	}
	return c.wrap(out, append([]int{rows}, src.shape[1:]...)...)
}

// SumTo implements Backend.
func (c CPU) SumTo(x *Tensor, shape ...int) *Tensor {
	if SameShape(x.shape, shape) {
		return c.wrap(append([]float32(nil), host(x)...), shape...)
	}
	pl := planBroadcast("SumTo", x.shape, shape)
	xd := host(x)
	n := Numel(shape)
	acc := make([]float64, n)
	rank := x.Rank()
	inner := 1
	if rank > 0 {
		inner = x.shape[rank-1]
	}
	idx := make([]int, rank)
	for r := 0; r < len(xd)/max(inner, 1); r++ {
		rem, off := r, 0
		for d := rank - 2; d >= 0; d-- {
			idx[d] = rem % x.shape[d]
			rem /= x.shape[d]
			off += idx[d] * pl.bStrides[d]
		}
		row := xd[r*inner : (r+1)*inner]
		if pl.vec {
			dst := acc[off : off+inner]
			for i, v := range row {
				dst[i] += float64(v)
			}
		} else {
			var s float64
			for _, v := range row {
				s += float64(v)
			}
			acc[off] += s
		}
	}
	out := make([]float32, n)
	for i, v := range acc {
		out[i] = float32(v)
	}
	return c.wrap(out, shape...)
}
