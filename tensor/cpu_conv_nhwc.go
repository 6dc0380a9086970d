package tensor

import (
	"math"
	"sync"

	"plp/kernels/cpu"
)

// conv2DChannelsLast is Conv2DAct on channels-last tensors: depthwise convolutions have their own loop,
// the rest is dense.
func (c CPU) conv2DChannelsLast(x, w, bias, add *Tensor, p Conv, f Act, ho, wo int) *Tensor {
	epilogueGeom("Conv2DAct", add, f, []int{x.shape[0], ho, wo, w.shape[0]})
	if cin := x.shape[3]; p.Groups == cin && w.shape[0] == cin && w.shape[3] == 1 {
		return c.depthwiseChannelsLast(x, w, bias, add, p, f, ho, wo)
	}
	return c.denseChannelsLast(x, w, bias, add, p, f, ho, wo)
}

// patchFloats bounds the patch matrix built at once by denseChannelsLast (4 MiB): big enough that each
// chunk's product amortises packing the weights again, small enough to stay in the last-level cache.
const patchFloats = 1 << 20

// minPatchRows is the fewest patch rows built at once (see patchRows).
const minPatchRows = 896

// patchPool recycles patch matrices across convolutions; they are fully overwritten, so they need no
// zeroing.
var patchPool sync.Pool

// denseChannelsLast is a channels-last convolution as matrix products whose rows are output pixels:
// out[pixel, o] = Σ patch[pixel, (ky, kx, ci)]·w[o, (ky, kx, ci)], with the bias, add and activation
// in the product's epilogue. A 1×1 stride-1 unpadded convolution reads x itself as the patch matrix;
// otherwise the patch matrix is built a chunk of rows at a time. Grouped convolutions go through the
// channels-first code.
func (c CPU) denseChannelsLast(x, w, bias, add *Tensor, p Conv, f Act, ho, wo int) *Tensor {
	if p.Groups != 1 {
		return c.viaChannelsFirst(x, w, bias, add, p, f)
	}
	B, H, W, cin := x.shape[0], x.shape[1], x.shape[2], x.shape[3]
	cout, kh, kw := w.shape[0], w.shape[1], w.shape[2]
	xd, wd := host(x), host(w)
	ep := &cpu.Epilogue{LdAdd: cout}
	if bias != nil {
		ep.ColBias = host(bias)
	}
	var ad []float32
	if add != nil {
		ad = host(add)
	}
	act, fused := epilogueAct(f)
	ep.Act = act
	rows, k := B*ho*wo, kh*kw*cin
	res, out := c.newResult(B, ho, wo, cout)
	if kh == 1 && kw == 1 && p.StrideH == 1 && p.StrideW == 1 && p.PadH == 0 && p.PadW == 0 {
		ep.Add = ad
		cpu.SgemmEpilogue(false, true, rows, cout, k, xd, k, wd, k, out, cout, ep)
	} else {
		// Patch rows start 64-byte aligned, which the SGEMM reads faster when it takes A in place.
		ldp := (k + 15) &^ 15
		chunk := patchRows(rows, ldp)
		buf := getScratch(&patchPool, chunk*ldp, patchFloats)
		patch := *buf
		for r0 := 0; r0 < rows; r0 += chunk {
			r1 := min(rows, r0+chunk)
			parallelFor(r1-r0, max(16, 4096/k), func(lo, hi int) {
				im2rowNHWC(patch[lo*ldp:hi*ldp], ldp, xd, r0+lo, r0+hi, H, W, cin, kh, kw, ho, wo, p)
			})
			if ad != nil {
				ep.Add = ad[r0*cout:]
			}
			cpu.SgemmEpilogue(false, true, r1-r0, cout, k, patch, ldp, wd, k, out[r0*cout:], cout, ep)
		}
		patchPool.Put(buf)
	}
	if !fused {
		finishEpilogue(out, nil, f)
	}
	return res
}

// patchRows is how many of rows patch rows of k columns to build at once: about patchFloats values but
// at least minPatchRows rows, so that packing the weights again for each chunk stays cheap beside the
// product; chunks of near-equal size, each a whole number of the SGEMM's 112-row bands per thread so that
// no thread waits on another's extra band.
func patchRows(rows, k int) int {
	if rows == 0 {
		return 1
	}
	target := max(minPatchRows, patchFloats/max(k, 1))
	n := (rows + target - 1) / target
	per := (rows + n - 1) / n
	unit := 112 * cpu.Threads()
	return max(1, min(rows, (per+unit-1)/unit*unit))
}

// im2rowNHWC writes rows [r0, r1) of the patch matrix of channels-last x [B, H, W, C] into dst, ld values
// apart: row (b, oy, ox) holds x[b, oy·sh−ph+ky, ox·sw−pw+kx, :] for (ky, kx) in row-major order, zeros
// where that pixel is padding. For one ky the kernel's columns read one contiguous run of x. The ld−k
// values after each row are left as they are.
func im2rowNHWC(dst []float32, ld int, x []float32, r0, r1, H, W, C, kh, kw, ho, wo int, p Conv) {
	k := kh * kw * C
	run := kw * C
	b, oy, ox := r0/(ho*wo), (r0/wo)%ho, r0%wo
	for r := r0; r < r1; r++ {
		d := dst[(r-r0)*ld : (r-r0)*ld+k]
		ix0 := ox*p.StrideW - p.PadW
		kx0, kx1 := max(0, -ix0), min(kw, W-ix0)
		iy0 := oy*p.StrideH - p.PadH
		for ky := 0; ky < kh; ky++ {
			seg := d[ky*run : (ky+1)*run]
			iy := iy0 + ky
			if iy < 0 || iy >= H || kx0 >= kx1 {
				clear(seg)
				continue
			}
			src := x[((b*H+iy)*W+ix0+kx0)*C : ((b*H+iy)*W+ix0+kx1)*C]
			if kx0 > 0 {
				clear(seg[:kx0*C])
			}
			if kx1 < kw {
				clear(seg[kx1*C:])
			}
			copy(seg[kx0*C:kx1*C], src)
		}
		if ox++; ox == wo {
			ox = 0
			if oy++; oy == ho {
				oy = 0
				b++
			}
		}
	}
}

// viaChannelsFirst computes a channels-last convolution by permuting to channels-first and back.
func (c CPU) viaChannelsFirst(x, w, bias, add *Tensor, p Conv, f Act) *Tensor {
	p.ChannelsLast = false
	y := c.Conv2D(c.Permute(x, 0, 3, 1, 2), c.Permute(w, 0, 3, 1, 2), bias, p)
	out := c.Permute(y, 0, 2, 3, 1)
	var ad []float32
	if add != nil {
		ad = host(add)
	}
	finishEpilogue(host(out), ad, f)
	return out
}

// pool2DChannelsLast pools channels-last x [B, H, W, C] into [B, ho, wo, C], each output pixel one
// pass over its window's channel vectors. Padding counts as zeros in an average and is skipped by max.
func (c CPU) pool2DChannelsLast(x *Tensor, p Pool, ho, wo int) *Tensor {
	B, H, W, C := x.shape[0], x.shape[1], x.shape[2], x.shape[3]
	xd := host(x)
	res, out := c.newResult(B, ho, wo, C)
	inv := 1 / float32(p.KH*p.KW)
	parallelFor(B*ho, max(1, 4096/max(1, wo*C*p.KH*p.KW)), func(lo, hi int) {
		for row := lo; row < hi; row++ {
			b, oy := row/ho, row%ho
			for ox := 0; ox < wo; ox++ {
				dst := out[((row*wo)+ox)*C : ((row*wo)+ox+1)*C]
				if p.Kind == AvgPool {
					clear(dst) // a recycled buffer holds old values
				}
				empty := true
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
						src := xd[((b*H+iy)*W+ix)*C : ((b*H+iy)*W+ix+1)*C]
						switch {
						case p.Kind == AvgPool:
							cpu.Axpy(1, src, dst)
						case empty:
							copy(dst, src)
						default:
							maxInto(dst, src)
						}
						empty = false
					}
				}
				switch {
				case p.Kind == AvgPool:
					cpu.Scale(inv, dst)
				case empty:
					// A window wholly in the padding: the max of nothing.
					for i := range dst {
						dst[i] = float32(math.Inf(-1))
					}
				}
			}
		}
	})
	return res
}

// maxInto sets dst[i] = max(dst[i], src[i]); the builtin is branch-free, and a NaN wins as in PyTorch.
func maxInto(dst, src []float32) {
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] = max(dst[i], v)
	}
}
