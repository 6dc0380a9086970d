package tensor

import (
	"runtime"
	"sync"
	"sync/atomic"

	"plp/kernels/cpu"
)

// bandFloats bounds the padded input band a worker builds at once (1 MiB): the band is copied and then
// read kh times over, so it should stay in the core's L2 cache.
const bandFloats = 1 << 18

// bandPool recycles the padded bands across calls; every value read is written first, so they need no
// zeroing.
var bandPool sync.Pool

// depthwiseChannelsLast is a channels-last depthwise convolution: w is [C, kh, kw, 1]. Work is split
// over (image, band of output rows). Each worker copies the input rows its band reads into a buffer with
// the padding made explicit and its pixels cpu.PixelStride apart, then runs cpu.DepthwiseRow on every
// output row, vectorised over channels; add and f are applied to each band while it is in cache.
func (c CPU) depthwiseChannelsLast(x, w, bias, add *Tensor, p Conv, f Act, ho, wo int) *Tensor {
	B, H, W, C := x.shape[0], x.shape[1], x.shape[2], x.shape[3]
	kh, kw := w.shape[1], w.shape[2]
	sh, sw := p.StrideH, p.StrideW
	xd := host(x)
	// The kernel wants the taps channel-fastest, ps apart like the pixels: [kh, kw, ps].
	ps := cpu.PixelStride(C)
	wd := host(w)
	taps := make([]float32, kh*kw*ps)
	for ch := 0; ch < C; ch++ {
		for t, v := range wd[ch*kh*kw : (ch+1)*kh*kw] {
			taps[t*ps+ch] = v
		}
	}
	var bd, ad []float32
	if bias != nil {
		bd = host(bias)
	}
	if add != nil {
		ad = host(add)
	}
	res, out := c.newResult(B, ho, wo, C) // DepthwiseRow writes every element

	// A padded row spans the columns the output row reads: (wo-1)·sw + kw, column j holding input
	// column j - PadW (zero outside the image).
	wp := (wo-1)*sw + kw
	ld := wp * ps
	// Output rows per band: as many as fit in bandFloats, but enough bands for every worker.
	band := max(1, min(ho, (bandFloats/ld-kh)/sh+1))
	if workers := runtime.GOMAXPROCS(0); B < 2*workers {
		band = min(band, max(1, ho*B/(2*workers)))
	}
	// Even the bands out: a short last band would copy kh-sh rows of overlap for only a few output rows.
	n := (ho + band - 1) / band
	band = (ho + n - 1) / n
	bands := (ho + band - 1) / band // at most n, none of them empty
	// Workers take units one at a time, so that a worker slowed down by another process does not hold
	// up the rest.
	units := B * bands
	var next atomic.Int64
	parallelFor(min(runtime.GOMAXPROCS(0), units), 1, func(_, _ int) {
		buf := getScratch(&bandPool, (band-1)*sh*ld+kh*ld, 0)
		pad := *buf
		for {
			u := int(next.Add(1)) - 1
			if u >= units {
				break
			}
			b, oy0 := u/bands, (u%bands)*band
			oy1 := min(ho, oy0+band)
			rows := (oy1-oy0-1)*sh + kh
			padRows(pad[:rows*ld], xd[b*H*W*C:(b+1)*H*W*C], oy0*sh-p.PadH, p.PadW, H, W, C, ps, wp)
			dst := out[(b*ho+oy0)*wo*C : (b*ho+oy1)*wo*C]
			for oy := oy0; oy < oy1; oy++ {
				cpu.DepthwiseRow(dst[(oy-oy0)*wo*C:], pad[(oy-oy0)*sh*ld:], ld, ps, taps, bd, C, kh, kw, wo, sw)
			}
			var bandAdd []float32
			if ad != nil {
				bandAdd = ad[(b*ho+oy0)*wo*C : (b*ho+oy1)*wo*C]
			}
			addAct(dst, bandAdd, f)
		}
		bandPool.Put(buf)
	})
	return res
}

// padRows fills dst with the len(dst)/(wp·ps) rows of the channels-last image x [H, W, C] starting at
// row iy0, each wp pixels wide, ps floats apart, and starting at column -padW; pixels outside the image
// are zero. The ps-C floats after each pixel are left as they are: the kernel reads none of them.
func padRows(dst, x []float32, iy0, padW, H, W, C, ps, wp int) {
	ld := wp * ps
	// Columns j in [j0, j1) hold input column j - padW.
	j0, j1 := min(max(0, padW), wp), max(0, min(wp, W+padW))
	j1 = max(j0, j1)
	for r := 0; r < len(dst)/ld; r++ {
		row := dst[r*ld : (r+1)*ld]
		iy := iy0 + r
		if iy < 0 || iy >= H || j0 == j1 {
			clear(row)
			continue
		}
		clear(row[:j0*ps])
		clear(row[j1*ps:])
		src := x[(iy*W+j0-padW)*C : (iy*W+j1-padW)*C]
		for j := j0; j < j1; j++ {
			copy(row[j*ps:j*ps+C], src[(j-j0)*C:])
		}
	}
}
