package imaging

import (
	"fmt"
	"math"
	"sort"
	"sync"
)

// ResizeMode says how Transform.Resize is applied.
type ResizeMode int

const (
	// ShorterSide scales the shorter side to Resize and keeps the aspect
	// ratio, like torchvision's Resize(int).
	ShorterSide ResizeMode = iota
	// Square resizes to Resize×Resize, ignoring the aspect ratio, like
	// torchvision's Resize((s, s)).
	Square
)

// String names the mode after open_clip's resize_mode values.
func (m ResizeMode) String() string {
	switch m {
	case ShorterSide:
		return "shortest"
	case Square:
		return "squash"
	}
	return fmt.Sprintf("ResizeMode(%d)", int(m))
}

// Transform is an evaluation preprocessing pipeline: resize, optional
// center crop, ToTensor (/255) and Normalize, reproducing torchvision 0.14
// on Pillow 9.4 exactly.
type Transform struct {
	Name       string
	Resize     int // target of the resize step, see ResizeMode
	ResizeMode ResizeMode
	Interp     Interpolation
	Crop       int // side of the square center crop; 0 means no crop
	Mean, Std  [3]float32
}

// Normalisation constants as torch holds them (float32).
var (
	OpenAIMean   = [3]float32{0.48145466, 0.4578275, 0.40821073}
	OpenAIStd    = [3]float32{0.26862954, 0.26130258, 0.27577711}
	ImageNetMean = [3]float32{0.485, 0.456, 0.406}
	ImageNetStd  = [3]float32{0.229, 0.224, 0.225}
	HalfMean     = [3]float32{0.5, 0.5, 0.5}
	HalfStd      = [3]float32{0.5, 0.5, 0.5}
)

var namedTransforms = map[string]Transform{
	// open_clip image_transform(224, is_train=False).
	"clip224": {Resize: 224, ResizeMode: ShorterSide, Interp: Bicubic, Crop: 224, Mean: OpenAIMean, Std: OpenAIStd},
	// The paper's default_prepro(224, dataset) for non-ImageNet sets.
	"plain224": {Resize: 224, ResizeMode: Square, Interp: Bicubic, Mean: ImageNetMean, Std: ImageNetStd},
	// The paper's default_prepro(224, dataset) for ImageNet-derived sets
	// (torchvision's default bilinear filter).
	"in224": {Resize: 256, ResizeMode: Square, Interp: Bilinear, Crop: 224, Mean: ImageNetMean, Std: ImageNetStd},
	// timm's eval transform for vit_base_patch16_224 (crop_pct 0.9).
	"timm_vit": {Resize: 248, ResizeMode: ShorterSide, Interp: Bicubic, Crop: 224, Mean: HalfMean, Std: HalfStd},
}

// TransformNames lists the names TransformByName accepts, sorted.
func TransformNames() []string {
	names := make([]string, 0, len(namedTransforms))
	for n := range namedTransforms {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// TransformByName returns one of the named pipelines: clip224 (open_clip
// eval), plain224 and in224 (the paper's defaults for other and ImageNet
// sets) and timm_vit (timm eval with crop_pct 0.9).
func TransformByName(name string) (Transform, error) {
	t, ok := namedTransforms[name]
	if !ok {
		return Transform{}, fmt.Errorf("imaging: unknown transform %q (known: %v)", name, TransformNames())
	}
	t.Name = name
	return t, nil
}

// EvalConfig is a model's evaluation preprocessing as open_clip's
// preprocess_cfg or timm's pretrained config states it.
type EvalConfig struct {
	ImageSize int
	Interp    Interpolation
	Mean, Std [3]float32
	// CropPct is timm's crop_pct: the resize target is
	// floor(ImageSize / CropPct) and the center crop ImageSize. 0 means 1
	// (open_clip: resize straight to ImageSize).
	CropPct float64
	// Mode is ShorterSide for open_clip "shortest" / timm "center" and
	// Square for "squash".
	Mode ResizeMode
}

// NewEvalTransform builds the transform for cfg under the given name.
func NewEvalTransform(name string, cfg EvalConfig) (Transform, error) {
	if cfg.ImageSize <= 0 || cfg.ImageSize > maxDim {
		return Transform{}, fmt.Errorf("imaging: transform %q: invalid image size %d", name, cfg.ImageSize)
	}
	pct := cfg.CropPct
	if pct == 0 {
		pct = 1
	}
	if !(pct > 0 && pct <= 1) {
		return Transform{}, fmt.Errorf("imaging: transform %q: crop_pct %v outside (0, 1]", name, cfg.CropPct)
	}
	if cfg.Mode != ShorterSide && cfg.Mode != Square {
		return Transform{}, fmt.Errorf("imaging: transform %q: unknown resize mode %v", name, cfg.Mode)
	}
	if cfg.Interp != Bicubic && cfg.Interp != Bilinear {
		return Transform{}, fmt.Errorf("imaging: transform %q: unsupported interpolation %v", name, cfg.Interp)
	}
	for c := 0; c < 3; c++ {
		if !(cfg.Std[c] > 0) {
			return Transform{}, fmt.Errorf("imaging: transform %q: std[%d] = %v must be positive", name, c, cfg.Std[c])
		}
	}
	// timm: scale_size = math.floor(img_size / crop_pct).
	resize := int(math.Floor(float64(cfg.ImageSize) / pct))
	if resize > maxDim {
		return Transform{}, fmt.Errorf("imaging: transform %q: resize target %d too large", name, resize)
	}
	return Transform{
		Name: name, Resize: resize, ResizeMode: cfg.Mode, Interp: cfg.Interp,
		Crop: cfg.ImageSize, Mean: cfg.Mean, Std: cfg.Std,
	}, nil
}

// ShorterSideSize is torchvision 0.14's _compute_resized_output_size for
// Resize(size): the shorter side becomes size and the longer one
// int(size * long / short), truncated.
func ShorterSideSize(w, h, size int) (nw, nh int) {
	short, long := w, h
	if w > h {
		short, long = h, w
	}
	newLong := int(float64(size*long) / float64(short))
	if w <= h {
		return size, newLong
	}
	return newLong, size
}

// CenterCropOffset is torchvision's center-crop offset along one side of
// length n for a crop of length c: int(round((n - c) / 2.0)) with Python's
// round-half-to-even. When c > n, torchvision first pads (c-n)//2 zeros in
// front, which the negative result -(c-n)/2 expresses.
func CenterCropOffset(n, c int) int {
	if c > n {
		return -((c - n) / 2)
	}
	d := n - c
	q := d / 2
	if d%2 == 1 && q%2 == 1 {
		q++ // x.5 rounds to the even neighbour
	}
	return q
}

// ResizedSize is the image size after the resize step for a w×h input.
func (t Transform) ResizedSize(w, h int) (rw, rh int) {
	if t.ResizeMode == Square {
		return t.Resize, t.Resize
	}
	return ShorterSideSize(w, h, t.Resize)
}

// OutputSize is the size of the transform's output for a w×h input.
func (t Transform) OutputSize(w, h int) (ow, oh int) {
	if t.Crop > 0 {
		return t.Crop, t.Crop
	}
	return t.ResizedSize(w, h)
}

func (t Transform) check(img *RGB) (rw, rh, ow, oh int, err error) {
	if t.Resize <= 0 || t.Resize > maxDim || t.Crop < 0 || t.Crop > maxDim {
		return 0, 0, 0, 0, fmt.Errorf("imaging: transform %q: invalid sizes resize=%d crop=%d", t.Name, t.Resize, t.Crop)
	}
	if img == nil || img.W <= 0 || img.H <= 0 || img.W > maxInputDim || img.H > maxInputDim || len(img.Pix) != img.W*img.H*3 {
		if img == nil {
			return 0, 0, 0, 0, fmt.Errorf("imaging: transform %q: nil image", t.Name)
		}
		return 0, 0, 0, 0, fmt.Errorf("imaging: transform %q: invalid %dx%d image holding %d bytes", t.Name, img.W, img.H, len(img.Pix))
	}
	rw, rh = t.ResizedSize(img.W, img.H)
	if rw <= 0 || rh <= 0 || rw > maxDim || rh > maxDim {
		return 0, 0, 0, 0, fmt.Errorf("imaging: transform %q: %dx%d image would resize to %dx%d", t.Name, img.W, img.H, rw, rh)
	}
	if t.Interp != Bicubic && t.Interp != Bilinear {
		return 0, 0, 0, 0, fmt.Errorf("imaging: transform %q: unsupported interpolation %v", t.Name, t.Interp)
	}
	ow, oh = t.OutputSize(img.W, img.H)
	return rw, rh, ow, oh, nil
}

// resizeCrop writes the resized-and-cropped ow×oh image into dst.
func (t Transform) resizeCrop(img *RGB, rw, rh, ow, oh int, dst []uint8, s *scratch) {
	offX, offY := 0, 0
	if t.Crop > 0 {
		offX, offY = CenterCropOffset(rw, ow), CenterCropOffset(rh, oh)
	}
	// The part of the crop window that lies inside the resized image; the
	// rest is torchvision's zero padding.
	x0, x1 := max(offX, 0), min(offX+ow, rw)
	y0, y1 := max(offY, 0), min(offY+oh, rh)
	if x0 > 0 || y0 > 0 || x1-x0 < ow || y1-y0 < oh {
		clear(dst)
	}
	if x1 <= x0 || y1 <= y0 {
		return
	}
	stride := ow * 3
	at := (y0-offY)*stride + (x0-offX)*3
	resizeRegion(img, rw, rh, t.Interp, x0, y0, x1-x0, y1-y0, dst[at:], stride, s)
}

// Apply runs the pipeline on img and returns the uint8 image right before
// ToTensor (after resize and crop) and the normalised CHW float32 tensor.
func (t Transform) Apply(img *RGB) (u8 *RGB, chw []float32, err error) {
	rw, rh, ow, oh, err := t.check(img)
	if err != nil {
		return nil, nil, err
	}
	u8 = NewRGB(ow, oh)
	var s scratch
	t.resizeCrop(img, rw, rh, ow, oh, u8.Pix, &s)
	chw = make([]float32, ow*oh*3)
	t.normalize(u8.Pix, chw)
	return u8, chw, nil
}

// pipeScratch recycles the per-call buffers of ApplyInto.
var pipeScratch = sync.Pool{New: func() any { return new(pipeBuf) }}

type pipeBuf struct {
	scratch
	u8 []uint8
}

// ApplyInto runs the pipeline on img and writes the normalised CHW tensor
// into dst, which must hold exactly 3*ow*oh values (see OutputSize). It
// allocates nothing once its internal buffers have warmed up and is safe
// for concurrent use.
func (t Transform) ApplyInto(img *RGB, dst []float32) error {
	rw, rh, ow, oh, err := t.check(img)
	if err != nil {
		return err
	}
	if len(dst) != ow*oh*3 {
		return fmt.Errorf("imaging: transform %q: destination holds %d values, want 3x%dx%d = %d", t.Name, len(dst), oh, ow, ow*oh*3)
	}
	b := pipeScratch.Get().(*pipeBuf)
	b.u8 = grow(b.u8, ow*oh*3)
	t.resizeCrop(img, rw, rh, ow, oh, b.u8, &b.scratch)
	t.normalize(b.u8, dst)
	pipeScratch.Put(b)
	return nil
}

// normTables caches per-(mean, std) lookup tables: every uint8 value maps to
// one float32, so a table gives torch's exact ((v / 255) - mean) / std.
var normTables sync.Map // [6]float32 → *[3][256]float32

func (t Transform) normTable() *[3][256]float32 {
	key := [6]float32{t.Mean[0], t.Mean[1], t.Mean[2], t.Std[0], t.Std[1], t.Std[2]}
	if v, ok := normTables.Load(key); ok {
		return v.(*[3][256]float32)
	}
	var tab [3][256]float32
	for c := 0; c < 3; c++ {
		for v := 0; v < 256; v++ {
			tab[c][v] = NormalizeValue(uint8(v), t.Mean[c], t.Std[c])
		}
	}
	v, _ := normTables.LoadOrStore(key, &tab)
	return v.(*[3][256]float32)
}

// NormalizeValue is ToTensor followed by Normalize for one value, in
// float32 as torch computes it: (v/255 - mean) / std, each step rounded.
func NormalizeValue(v uint8, mean, std float32) float32 {
	x := float32(v) / 255
	x = float32(x - mean)
	return x / std
}

// normalize converts packed HWC uint8 pixels to the normalised CHW tensor.
func (t Transform) normalize(hwc []uint8, chw []float32) {
	tab := t.normTable()
	n := len(hwc) / 3
	r, g, b := chw[:n], chw[n:2*n], chw[2*n:3*n]
	tr, tg, tb := &tab[0], &tab[1], &tab[2]
	for i := range r {
		p := hwc[i*3 : i*3+3]
		r[i] = tr[p[0]]
		g[i] = tg[p[1]]
		b[i] = tb[p[2]]
	}
}

// Normalize applies ToTensor and Normalize(mean, std) to img, returning the
// CHW float32 tensor.
func Normalize(img *RGB, mean, std [3]float32) ([]float32, error) {
	if img == nil || len(img.Pix) != img.W*img.H*3 {
		return nil, fmt.Errorf("imaging: normalize: invalid image")
	}
	out := make([]float32, len(img.Pix))
	Transform{Mean: mean, Std: std}.normalize(img.Pix, out)
	return out, nil
}

// CenterCrop returns the c×c torchvision CenterCrop of img, zero-padded
// where the crop is larger than the image.
func CenterCrop(img *RGB, c int) (*RGB, error) {
	if img == nil || img.W <= 0 || img.H <= 0 || len(img.Pix) != img.W*img.H*3 {
		return nil, fmt.Errorf("imaging: center crop: invalid image")
	}
	if c <= 0 || c > maxDim {
		return nil, fmt.Errorf("imaging: center crop: invalid size %d", c)
	}
	out := NewRGB(c, c)
	offX, offY := CenterCropOffset(img.W, c), CenterCropOffset(img.H, c)
	for y := 0; y < c; y++ {
		sy := y + offY
		if sy < 0 || sy >= img.H {
			continue
		}
		for x := 0; x < c; x++ {
			sx := x + offX
			if sx < 0 || sx >= img.W {
				continue
			}
			copy(out.Pix[(y*c+x)*3:(y*c+x)*3+3], img.Pix[(sy*img.W+sx)*3:])
		}
	}
	return out, nil
}

// Side is the width and height of the images t produces: the crop, or the resize target without a crop.
func (t Transform) Side() int {
	if t.Crop > 0 {
		return t.Crop
	}
	return t.Resize
}

// AtSize is t for a model that takes size×size images: the resize target scales with the crop, so that the
// crop keeps its share of the resized image (in224 at 64 resizes to 73 and crops 64, as 256 → 224), and the
// name records the size (in224@64). A transform that already produces size×size images is returned as is.
func (t Transform) AtSize(size int) Transform {
	if size <= 0 || t.Side() == size {
		return t
	}
	if t.Crop > 0 {
		t.Resize = int(math.Floor(float64(t.Resize) * float64(size) / float64(t.Crop)))
		t.Crop = size
	} else {
		t.Resize = size
	}
	t.Name = fmt.Sprintf("%s@%d", t.Name, size)
	return t
}
