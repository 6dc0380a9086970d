package imaging

import (
	"fmt"
	"math"
	"strings"
	"sync"
)

// Interpolation selects one of Pillow's resampling filters.
type Interpolation int

const (
	// Bicubic is Pillow's BICUBIC: cubic convolution with a = -0.5, support 2.
	Bicubic Interpolation = iota
	// Bilinear is Pillow's BILINEAR: the triangle filter, support 1.
	Bilinear
)

// String returns the name torchvision and timm use for the filter.
func (f Interpolation) String() string {
	switch f {
	case Bicubic:
		return "bicubic"
	case Bilinear:
		return "bilinear"
	}
	return fmt.Sprintf("Interpolation(%d)", int(f))
}

// ParseInterpolation maps "bicubic" or "bilinear" (any case) to its filter.
func ParseInterpolation(s string) (Interpolation, error) {
	switch strings.ToLower(s) {
	case "bicubic":
		return Bicubic, nil
	case "bilinear":
		return Bilinear, nil
	}
	return 0, fmt.Errorf("imaging: unknown interpolation %q (want bicubic or bilinear)", s)
}

func (f Interpolation) support() float64 {
	if f == Bilinear {
		return 1
	}
	return 2
}

// weight evaluates the filter kernel. The explicit float64 conversions keep
// the compiler from fusing multiply-adds, so the result is bit-identical to
// Pillow's C code compiled without FMA contraction.
func (f Interpolation) weight(x float64) float64 {
	if x < 0 {
		x = -x
	}
	if f == Bilinear {
		if x < 1 {
			return 1 - x
		}
		return 0
	}
	const a = -0.5
	if x < 1 {
		return float64(float64(float64(float64((a+2)*x)-(a+3))*x)*x) + 1
	}
	if x < 2 {
		return float64(float64(float64(float64(x-5)*x)+8)*x-4) * a
	}
	return 0
}

// precisionBits is Pillow's fixed-point precision for 8-bit resampling:
// 32 bits minus 8 for the result minus 2 for overflow headroom.
const precisionBits = 32 - 8 - 2

// coeffs holds the fixed-point filter taps of one resampling pass along one
// axis: output pixel i reads n[i] input pixels starting at start[i] with
// weights k[i*ksize : i*ksize+n[i]].
type coeffs struct {
	ksize int
	start []int32
	n     []int32
	k     []int32

	// The horizontal SIMD kernel's layout: source byte offsets (start*3),
	// groups of four taps per output pixel, and per group 16 int32 weights
	// (R, G, B, 0 for each of the four taps; zero past n). maxRead is the
	// furthest byte past a row's start the kernel loads.
	startB  []int32
	nch     []int32
	maxCh   int
	kx      []int32
	maxRead int
}

// newCoeffs computes the taps exactly as Pillow's precompute_coeffs and
// normalize_coeffs_8bpc do for a full-image resize from in to out pixels.
func newCoeffs(in, out int, f Interpolation) *coeffs {
	scale := float64(in) / float64(out)
	filterscale := scale
	if filterscale < 1 {
		filterscale = 1
	}
	support := f.support() * filterscale
	ksize := int(math.Ceil(support))*2 + 1
	c := &coeffs{
		ksize: ksize,
		start: make([]int32, out),
		n:     make([]int32, out),
		k:     make([]int32, out*ksize),
	}
	w := make([]float64, ksize)
	ss := 1 / filterscale
	for xx := 0; xx < out; xx++ {
		center := float64(float64(xx)+0.5) * scale
		// Go's int conversion truncates toward zero like C's cast.
		xmin := int(center - support + 0.5)
		if xmin < 0 {
			xmin = 0
		}
		xmax := int(center + support + 0.5)
		if xmax > in {
			xmax = in
		}
		xmax -= xmin
		if xmax > ksize {
			xmax = ksize // cannot happen; guards the slices below
		}
		ww := 0.0
		for x := 0; x < xmax; x++ {
			v := f.weight(float64(float64(x+xmin)-center+0.5) * ss)
			w[x] = v
			ww += v
		}
		k := c.k[xx*ksize : xx*ksize+ksize]
		for x := 0; x < xmax; x++ {
			v := w[x]
			if ww != 0 {
				v /= ww
			}
			p := float64(v * (1 << precisionBits))
			if v < 0 {
				k[x] = int32(-0.5 + p)
			} else {
				k[x] = int32(0.5 + p)
			}
		}
		c.start[xx] = int32(xmin)
		c.n[xx] = int32(xmax)
	}
	c.expand()
	return c
}

func (c *coeffs) expand() {
	out := len(c.start)
	c.maxCh = (c.ksize + 3) / 4
	c.startB = make([]int32, out)
	c.nch = make([]int32, out)
	c.kx = make([]int32, out*c.maxCh*16)
	for xx := 0; xx < out; xx++ {
		n := int(c.n[xx])
		c.startB[xx] = c.start[xx] * 3
		c.nch[xx] = int32((n + 3) / 4)
		if c.nch[xx] == 0 {
			c.nch[xx] = 1 // all-zero weights; keeps the kernel's loop well-formed
		}
		k := c.k[xx*c.ksize : xx*c.ksize+n]
		kx := c.kx[xx*c.maxCh*16 : (xx+1)*c.maxCh*16]
		for t, kv := range k {
			kx[t*4], kx[t*4+1], kx[t*4+2] = kv, kv, kv
		}
		c.maxRead = max(c.maxRead, int(c.startB[xx])+12*int(c.nch[xx])+4)
	}
}

type coeffKey struct {
	in, out int
	f       Interpolation
}

// coeffCache keeps the tables of recently used (in, out, filter) triples; a
// dataset usually has few distinct image sizes. It is cleared when full so
// that a stream of odd sizes cannot grow it without bound.
var coeffCache struct {
	sync.RWMutex
	m map[coeffKey]*coeffs
}

const coeffCacheMax = 1024

func cachedCoeffs(in, out int, f Interpolation) *coeffs {
	key := coeffKey{in, out, f}
	coeffCache.RLock()
	c := coeffCache.m[key]
	coeffCache.RUnlock()
	if c != nil {
		return c
	}
	c = newCoeffs(in, out, f)
	coeffCache.Lock()
	if coeffCache.m == nil || len(coeffCache.m) >= coeffCacheMax {
		coeffCache.m = make(map[coeffKey]*coeffs)
	}
	coeffCache.m[key] = c
	coeffCache.Unlock()
	return c
}

// maxDim bounds every output side and maxInputDim every input side the
// resampler accepts; they keep coefficient tables and intermediate buffers
// to sane sizes (the decoder bounds the pixel count separately).
const (
	maxDim      = 1 << 16
	maxInputDim = 1 << 18
)

// Resize returns img resampled to w×h exactly as Pillow 9.4's
// Image.resize((w, h), BICUBIC or BILINEAR) does for 8-bit RGB: a horizontal
// pass, then a vertical one, each rounded and clamped to 8 bits, with a pass
// skipped when its dimension does not change. img is not modified.
func Resize(img *RGB, w, h int, f Interpolation) (*RGB, error) {
	if err := checkResize(img, w, h, f); err != nil {
		return nil, err
	}
	dst := NewRGB(w, h)
	var s scratch
	resizeRegion(img, w, h, f, 0, 0, w, h, dst.Pix, w*3, &s)
	return dst, nil
}

func checkResize(img *RGB, w, h int, f Interpolation) error {
	if img == nil {
		return fmt.Errorf("imaging: resize of a nil image")
	}
	if img.W <= 0 || img.H <= 0 || img.W > maxInputDim || img.H > maxInputDim || len(img.Pix) != img.W*img.H*3 {
		return fmt.Errorf("imaging: cannot resize a %dx%d image holding %d bytes", img.W, img.H, len(img.Pix))
	}
	if w <= 0 || h <= 0 || w > maxDim || h > maxDim {
		return fmt.Errorf("imaging: invalid resize target %dx%d", w, h)
	}
	if f != Bicubic && f != Bilinear {
		return fmt.Errorf("imaging: unsupported interpolation %v", f)
	}
	return nil
}

// scratch holds the reusable buffers of one resize so that a steady stream
// of images allocates nothing per image.
type scratch struct {
	tmp []uint8
	acc []int32
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// resizeRegion writes the pixels [x0, x0+cw) × [y0, y0+ch) of the w×h
// Pillow resize of src into dst (rows dstStride bytes apart). Every output
// pixel depends only on its own filter taps, so computing a sub-rectangle
// gives the same values as resizing everything and cropping afterwards. The
// region must lie inside w×h; arguments are assumed checked.
func resizeRegion(src *RGB, w, h int, f Interpolation, x0, y0, cw, ch int, dst []uint8, dstStride int, s *scratch) {
	needH := w != src.W
	needV := h != src.H
	var cy *coeffs
	// Rows of the horizontal pass's output that the vertical pass reads.
	ry0, ry1 := y0, y0+ch
	if needV {
		cy = cachedCoeffs(src.H, h, f)
		ry0 = int(cy.start[y0])
		last := y0 + ch - 1
		ry1 = int(cy.start[last] + cy.n[last])
		for y := y0; y < y0+ch; y++ { // windows are monotone, but be safe
			ry0 = min(ry0, int(cy.start[y]))
			ry1 = max(ry1, int(cy.start[y]+cy.n[y]))
		}
	}

	// Horizontal pass (or a plain copy of the needed source pixels).
	var mid []uint8
	midStride := cw * 3
	if !needV {
		// The horizontal result is the output itself.
		if needH {
			horizontalPass(src, cachedCoeffs(src.W, w, f), x0, cw, ry0, ry1, dst, dstStride)
		} else {
			for y := ry0; y < ry1; y++ {
				copy(dst[(y-ry0)*dstStride:(y-ry0)*dstStride+cw*3], src.Pix[(y*src.W+x0)*3:(y*src.W+x0+cw)*3])
			}
		}
		return
	}
	if needH {
		s.tmp = grow(s.tmp, (ry1-ry0)*midStride)
		mid = s.tmp
		horizontalPass(src, cachedCoeffs(src.W, w, f), x0, cw, ry0, ry1, mid, midStride)
	} else {
		// Read the source rows in place, offset to column x0.
		mid = src.Pix[(ry0*src.W+x0)*3:]
		midStride = src.W * 3
	}
	s.acc = grow(s.acc, cw*3)
	verticalPass(mid, midStride, ry0, cy, y0, ch, cw*3, dst, dstStride, s.acc)
}

// horizontalPass resamples columns [x0, x0+cw) of rows [ry0, ry1) of src
// with the taps c into out (row r at out[(r-ry0)*stride]).
func horizontalPass(src *RGB, c *coeffs, x0, cw, ry0, ry1 int, out []uint8, stride int) {
	const half = 1 << (precisionBits - 1)
	ks := c.ksize
	for y := ry0; y < ry1; y++ {
		srow := src.Pix[y*src.W*3 : (y+1)*src.W*3]
		orow := out[(y-ry0)*stride : (y-ry0)*stride+cw*3]
		// The kernel loads up to maxRead bytes past the row start; rows
		// near the end of Pix take the Go loop instead.
		if hasResizeAVX512 && cw > 0 && y*src.W*3+c.maxRead <= len(src.Pix) {
			horizRowAVX512(&orow[0], &src.Pix[y*src.W*3], &c.startB[x0], &c.nch[x0],
				&c.kx[x0*c.maxCh*16], c.maxCh*64, cw)
			continue
		}
		for j := 0; j < cw; j++ {
			xx := x0 + j
			st := int(c.start[xx]) * 3
			n := int(c.n[xx])
			k := c.k[xx*ks : xx*ks+n]
			p := srow[st : st+3*n]
			s0, s1, s2 := int32(half), int32(half), int32(half)
			for _, kv := range k {
				_ = p[2]
				s0 += int32(p[0]) * kv
				s1 += int32(p[1]) * kv
				s2 += int32(p[2]) * kv
				p = p[3:]
			}
			o := orow[j*3 : j*3+3]
			o[0] = clip8(s0)
			o[1] = clip8(s1)
			o[2] = clip8(s2)
		}
	}
}

// verticalPass computes output rows [y0, y0+ch) from the horizontally
// resampled rows in mid (row r at mid[(r-ry0)*stride], rowLen bytes used).
func verticalPass(mid []uint8, stride, ry0 int, c *coeffs, y0, ch, rowLen int, dst []uint8, dstStride int, acc []int32) {
	ks := c.ksize
	for yy := y0; yy < y0+ch; yy++ {
		st := int(c.start[yy]) - ry0
		n := int(c.n[yy])
		k := c.k[yy*ks : yy*ks+n]
		orow := dst[(yy-y0)*dstStride : (yy-y0)*dstStride+rowLen]
		from := 0
		if hasResizeAVX512 && n > 0 && rowLen >= 16 {
			from = rowLen &^ 15
			vertRowAVX512(&orow[0], &mid[st*stride], stride, &k[0], n, from)
			if from == rowLen {
				continue
			}
		}
		vertRowGo(orow[from:], mid[st*stride+from:], stride, k, rowLen-from, acc[:rowLen-from])
	}
}

// vertRowGo is one output row of the vertical pass: row t of the window
// starts at mid[t*stride], and rowLen values are produced.
func vertRowGo(orow, mid []uint8, stride int, k []int32, rowLen int, acc []int32) {
	const half = 1 << (precisionBits - 1)
	acc = acc[:rowLen]
	for i := range acc {
		acc[i] = half
	}
	n := len(k)
	t := 0
	// Two taps per sweep halve the accumulator traffic; integer addition
	// is associative, so the sum is unchanged.
	for ; t+1 < n; t += 2 {
		k0, k1 := k[t], k[t+1]
		r0 := mid[t*stride : t*stride+rowLen]
		r1 := mid[(t+1)*stride : (t+1)*stride+rowLen]
		r1 = r1[:len(r0)]
		a := acc[:len(r0)]
		for i, v := range r0 {
			a[i] += int32(v)*k0 + int32(r1[i])*k1
		}
	}
	if t < n {
		k0 := k[t]
		r0 := mid[t*stride : t*stride+rowLen]
		a := acc[:len(r0)]
		for i, v := range r0 {
			a[i] += int32(v) * k0
		}
	}
	orow = orow[:rowLen]
	for i, v := range acc {
		orow[i] = clip8(v)
	}
}

// clip8 drops the fraction bits and clamps to 0..255 like Pillow's clip8.
func clip8(v int32) uint8 {
	v >>= precisionBits
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}
