package tensor

import (
	"math"

	"plp/kernels/cpu"
)

// Conv2D implements Backend.
func (c CPU) Conv2D(x, w, bias *Tensor, p Conv) *Tensor {
	return c.Conv2DAct(x, w, bias, nil, p, Identity)
}

// Conv2DAct implements Backend. Grouped convolutions with one input channel per group (depthwise) run a
// direct loop; everything else lowers to im2col + SGEMM per image and group, with bias, add and f in the
// SGEMM epilogue. Channels-last tensors take their own path (conv2DChannelsLast), where the matrix rows
// are the pixels of the whole batch.
func (c CPU) Conv2DAct(x, w, bias, add *Tensor, p Conv, f Act) *Tensor {
	ho, wo := conv2DGeom(x, w, bias, &p)
	if p.ChannelsLast {
		return c.conv2DChannelsLast(x, w, bias, add, p, f, ho, wo)
	}
	B, cin, H, W := x.shape[0], x.shape[1], x.shape[2], x.shape[3]
	cout, cpg, kh, kw := w.shape[0], w.shape[1], w.shape[2], w.shape[3]
	epilogueGeom("Conv2DAct", add, f, []int{B, cout, ho, wo})
	g := p.Groups
	xd, wd := host(x), host(w)
	var bd, ad []float32
	if bias != nil {
		bd = host(bias)
	}
	if add != nil {
		ad = host(add)
	}
	act, fused := epilogueAct(f)
	res, out := c.newResult(B, cout, ho, wo)
	if cpg == 1 && cout == cin {
		c.depthwise(out, xd, wd, bd, B, cin, H, W, kh, kw, ho, wo, p)
		finishEpilogue(out, ad, f)
		return res
	}
	copg := cout / g
	kk := cpg * kh * kw
	direct := kh == 1 && kw == 1 && p.StrideH == 1 && p.StrideW == 1 && p.PadH == 0 && p.PadW == 0
	var cols []float32
	if !direct {
		cols = make([]float32, kk*ho*wo)
	}
	for b := 0; b < B; b++ {
		for gi := 0; gi < g; gi++ {
			xin := xd[(b*cin+gi*cpg)*H*W : (b*cin+(gi+1)*cpg)*H*W]
			src := xin
			if !direct {
				im2col(cols, xin, cpg, H, W, kh, kw, ho, wo, p)
				src = cols
			}
			o := (b*cout + gi*copg) * ho * wo
			ep := &cpu.Epilogue{LdAdd: ho * wo, Act: act}
			if bd != nil {
				ep.RowBias = bd[gi*copg:]
			}
			if ad != nil {
				ep.Add = ad[o:]
			}
			cpu.SgemmEpilogue(false, false, copg, ho*wo, kk, wd[gi*copg*kk:], kk, src, ho*wo, out[o:], ho*wo, ep)
		}
	}
	if !fused {
		finishEpilogue(out, nil, f)
	}
	return res
}

// finishEpilogue applies y = f(y + add) to out in place, for the paths the SGEMM epilogue does not cover.
func finishEpilogue(out, add []float32, f Act) {
	if add == nil && f == Identity {
		return
	}
	parallelFor(len(out), 1<<13, func(lo, hi int) {
		var a []float32
		if add != nil {
			a = add[lo:hi]
		}
		addAct(out[lo:hi], a, f)
	})
}

// addAct sets out = f(out + add) in place on one goroutine; add may be nil.
func addAct(out, add []float32, f Act) {
	for i, v := range add {
		out[i] += v
	}
	applyAct(f, out)
}

// im2col lays out input patches as rows (channel, ky, kx) × columns (output pixel); padding reads zero.
func im2col(cols, x []float32, cin, H, W, kh, kw, ho, wo int, p Conv) {
	parallelFor(cin*kh*kw, 8, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			ci, ky, kx := r/(kh*kw), (r/kw)%kh, r%kw
			dst := cols[r*ho*wo : (r+1)*ho*wo]
			plane := x[ci*H*W : (ci+1)*H*W]
			for oy := 0; oy < ho; oy++ {
				iy := oy*p.StrideH - p.PadH + ky
				drow := dst[oy*wo : (oy+1)*wo]
				if iy < 0 || iy >= H {
					clear(drow)
					continue
				}
				srow := plane[iy*W : (iy+1)*W]
				if p.StrideW == 1 {
					// Output columns [x0, x1) read input columns x0+off...; the rest is padding.
					off := kx - p.PadW
					x0, x1 := max(0, -off), min(wo, W-off)
					if x0 >= x1 {
						clear(drow)
						continue
					}
					clear(drow[:x0])
					copy(drow[x0:x1], srow[x0+off:x1+off])
					clear(drow[x1:])
					continue
				}
				for ox := range drow {
					ix := ox*p.StrideW - p.PadW + kx
					if ix < 0 || ix >= W {
						drow[ox] = 0
					} else {
						drow[ox] = srow[ix]
					}
				}
			}
		}
	})
}

func (c CPU) depthwise(out, xd, wd, bd []float32, B, C, H, W, kh, kw, ho, wo int, p Conv) {
	parallelFor(B*C, 1, func(lo, hi int) {
		for bc := lo; bc < hi; bc++ {
			ch := bc % C
			plane := xd[bc*H*W : (bc+1)*H*W]
			k := wd[ch*kh*kw : (ch+1)*kh*kw]
			dst := out[bc*ho*wo : (bc+1)*ho*wo]
			var bv float32
			if bd != nil {
				bv = bd[ch]
			}
			for i := range dst {
				dst[i] = bv
			}
			for ky := 0; ky < kh; ky++ {
				for kx := 0; kx < kw; kx++ {
					wv := k[ky*kw+kx]
					for oy := 0; oy < ho; oy++ {
						iy := oy*p.StrideH - p.PadH + ky
						if iy < 0 || iy >= H {
							continue
						}
						srow := plane[iy*W : (iy+1)*W]
						drow := dst[oy*wo : (oy+1)*wo]
						// Only the output columns whose input column is inside the image.
						x0 := max(0, (p.PadW-kx+p.StrideW-1)/p.StrideW)
						x1 := 0
						if last := W - 1 + p.PadW - kx; last >= 0 {
							x1 = min(wo, last/p.StrideW+1)
						}
						if x0 >= x1 {
							continue
						}
						if p.StrideW == 1 {
							off := kx - p.PadW
							cpu.Axpy(wv, srow[x0+off:x1+off], drow[x0:x1])
							continue
						}
						for ox := x0; ox < x1; ox++ {
							drow[ox] += wv * srow[ox*p.StrideW-p.PadW+kx]
						}
					}
				}
			}
		}
	})
}

// Pool2D implements Backend.
func (c CPU) Pool2D(x *Tensor, p Pool) *Tensor {
	ho, wo := poolGeom("Pool2D", x, &p)
	if p.ChannelsLast {
		return c.pool2DChannelsLast(x, p, ho, wo)
	}
	B, C, H, W := x.shape[0], x.shape[1], x.shape[2], x.shape[3]
	xd := host(x)
	out := make([]float32, B*C*ho*wo)
	inv := 1 / float32(p.KH*p.KW)
	parallelFor(B*C, 1, func(lo, hi int) {
		for bc := lo; bc < hi; bc++ {
			plane := xd[bc*H*W : (bc+1)*H*W]
			dst := out[bc*ho*wo : (bc+1)*ho*wo]
			for oy := 0; oy < ho; oy++ {
				for ox := 0; ox < wo; ox++ {
					acc := float32(0)
					if p.Kind == MaxPool {
						acc = float32(math.Inf(-1))
					}
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
							v := plane[iy*W+ix]
							if p.Kind == MaxPool {
								if v > acc {
									acc = v
								}
							} else {
								acc += v
							}
						}
					}
					if p.Kind == AvgPool {
						acc *= inv
					}
					dst[oy*wo+ox] = acc
				}
			}
		}
	})
	return c.wrap(out, B, C, ho, wo)
}
