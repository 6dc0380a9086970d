package imaging

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"testing"
)

// Images of the reference subset with their resized sizes (from the
// reference manifest) for each pipeline.
var fixtureCases = []struct {
	file    string
	resized map[string][2]int
}{
	{"rgb_500x375.png", map[string][2]int{"clip224": {298, 224}, "plain224": {224, 224}, "in224": {256, 256}, "timm_vit": {330, 248}}},
	{"jpeg444_640x430.jpg", map[string][2]int{"clip224": {333, 224}, "plain224": {224, 224}, "in224": {256, 256}, "timm_vit": {369, 248}}},
	{"cifar_32x32.png", map[string][2]int{"clip224": {224, 224}, "plain224": {224, 224}, "in224": {256, 256}, "timm_vit": {248, 248}}},
	{"tall_7x300.png", map[string][2]int{"clip224": {224, 9600}, "plain224": {224, 224}, "in224": {256, 256}, "timm_vit": {248, 10628}}},
	{"palette_224x224.png", map[string][2]int{"clip224": {224, 224}, "plain224": {224, 224}, "in224": {256, 256}, "timm_vit": {248, 248}}},
}

// TestPipelinesU8 checks the after-crop uint8 image of every pipeline
// against Pillow/torchvision bit for bit, starting from the reference
// decoded pixels so that only resampling and cropping are under test.
func TestPipelinesU8(t *testing.T) {
	for _, tc := range fixtureCases {
		src := fixRGB(t, "decoded/"+tc.file)
		for _, name := range TransformNames() {
			t.Run(name+"/"+tc.file, func(t *testing.T) {
				tr, err := TransformByName(name)
				if err != nil {
					t.Fatal(err)
				}
				rw, rh := tr.ResizedSize(src.W, src.H)
				if want := tc.resized[name]; rw != want[0] || rh != want[1] {
					t.Errorf("resized to %dx%d, want %dx%d", rw, rh, want[0], want[1])
				}
				want := fixRGB(t, name+"/u8/"+tc.file)
				got, chw, err := tr.Apply(src)
				if err != nil {
					t.Fatal(err)
				}
				if got.W != want.W || got.H != want.H {
					t.Fatalf("output %dx%d, want %dx%d", got.W, got.H, want.W, want.H)
				}
				diffs, maxd := 0, 0
				for i := range got.Pix {
					d := int(got.Pix[i]) - int(want.Pix[i])
					if d != 0 {
						diffs++
						maxd = max(maxd, d, -d)
					}
				}
				if diffs != 0 {
					t.Errorf("%d of %d values differ from Pillow, max |diff| %d", diffs, len(got.Pix), maxd)
				}
				// ApplyInto must agree with Apply exactly.
				into := make([]float32, len(chw))
				if err := tr.ApplyInto(src, into); err != nil {
					t.Fatal(err)
				}
				for i := range chw {
					if math.Float32bits(chw[i]) != math.Float32bits(into[i]) {
						t.Fatalf("ApplyInto[%d] = %v, Apply gave %v", i, into[i], chw[i])
					}
				}
			})
		}
	}
}

// TestPipelinesFloat checks the normalised CHW tensors.
func TestPipelinesFloat(t *testing.T) {
	cases := []struct{ pipeline, file string }{
		{"plain224", "rgb_500x375.png"},
		{"clip224", "cifar_32x32.png"},
		{"in224", "jpeg444_640x430.jpg"},
	}
	for _, tc := range cases {
		t.Run(tc.pipeline+"/"+tc.file, func(t *testing.T) {
			tr, err := TransformByName(tc.pipeline)
			if err != nil {
				t.Fatal(err)
			}
			want, shape := fixF32(t, tc.pipeline+"/float/"+tc.file)
			if fmt.Sprint(shape) != "[3 224 224]" {
				t.Fatalf("reference shape %v", shape)
			}
			_, got, err := tr.Apply(fixRGB(t, "decoded/"+tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("len %d, want %d", len(got), len(want))
			}
			maxd := 0.0
			for i := range got {
				maxd = math.Max(maxd, math.Abs(float64(got[i])-float64(want[i])))
			}
			if maxd > 1e-6 {
				t.Errorf("max |diff| %g > 1e-6", maxd)
			}
		})
	}
}

func TestShorterSideSize(t *testing.T) {
	cases := []struct{ w, h, size, nw, nh int }{
		{500, 375, 224, 298, 224},
		{375, 500, 224, 224, 298},
		{1024, 683, 224, 335, 224}, // 335.83 truncates
		{7, 300, 224, 224, 9600},
		{300, 200, 248, 372, 248},
		{224, 224, 224, 224, 224},
		{32, 32, 248, 248, 248},
	}
	for _, c := range cases {
		nw, nh := ShorterSideSize(c.w, c.h, c.size)
		if nw != c.nw || nh != c.nh {
			t.Errorf("ShorterSideSize(%d, %d, %d) = %d, %d; want %d, %d", c.w, c.h, c.size, nw, nh, c.nw, c.nh)
		}
	}
}

func TestCenterCropOffset(t *testing.T) {
	cases := []struct{ n, c, want int }{
		{256, 224, 16},
		{333, 224, 54}, // round(54.5) = 54
		{335, 224, 56}, // round(55.5) = 56
		{9600, 224, 4688},
		{224, 224, 0},
		{225, 224, 0}, // round(0.5) = 0
		{227, 224, 2}, // round(1.5) = 2
		{200, 224, -12},
		{201, 224, -11}, // pad (23)//2 = 11 in front
	}
	for _, c := range cases {
		if got := CenterCropOffset(c.n, c.c); got != c.want {
			t.Errorf("CenterCropOffset(%d, %d) = %d, want %d", c.n, c.c, got, c.want)
		}
	}
}

// TestCenterCropPadding follows torchvision: a crop larger than the image
// pads zeros, (c-n)//2 before and the rest after.
func TestCenterCropPadding(t *testing.T) {
	img := NewRGB(3, 2)
	for i := range img.Pix {
		img.Pix[i] = uint8(i + 1)
	}
	got, err := CenterCrop(img, 4)
	if err != nil {
		t.Fatal(err)
	}
	// Width 3 → 4: pad 0 left, 1 right. Height 2 → 4: pad 1 top, 1 bottom.
	for y := 0; y < 4; y++ {
		for x := 0; x < 4; x++ {
			r, _, _ := got.At(x, y)
			var want uint8
			if sx, sy := x, y-1; sx < 3 && sy >= 0 && sy < 2 {
				want, _, _ = img.At(sx, sy)
			}
			if r != want {
				t.Errorf("pixel (%d,%d) = %d, want %d", x, y, r, want)
			}
		}
	}
	// The same padding through a transform whose crop exceeds the resize.
	tr := Transform{Name: "pad", Resize: 4, ResizeMode: Square, Interp: Bicubic, Crop: 6, Mean: HalfMean, Std: HalfStd}
	u8, _, err := tr.Apply(img)
	if err != nil {
		t.Fatal(err)
	}
	resized, err := Resize(img, 4, 4, Bicubic)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := CenterCrop(resized, 6)
	if string(u8.Pix) != string(want.Pix) {
		t.Errorf("padded transform output differs from Resize + CenterCrop")
	}
}

// TestResizeRegionMatchesFull checks the crop-only computation against a
// full resize followed by a crop, over many sizes and both filters.
func TestResizeRegionMatchesFull(t *testing.T) {
	src := NewRGB(37, 23)
	for i := range src.Pix {
		src.Pix[i] = uint8((i*7919 + i*i) % 256)
	}
	for _, f := range []Interpolation{Bicubic, Bilinear} {
		for _, sz := range [][2]int{{37, 23}, {37, 11}, {12, 23}, {20, 9}, {80, 50}, {5, 64}} {
			full, err := Resize(src, sz[0], sz[1], f)
			if err != nil {
				t.Fatal(err)
			}
			for _, crop := range []int{1, 4, 9} {
				tr := Transform{Name: "t", Resize: 0, ResizeMode: Square, Interp: f, Crop: crop, Mean: HalfMean, Std: HalfStd}
				ox, oy := CenterCropOffset(sz[0], crop), CenterCropOffset(sz[1], crop)
				got := NewRGB(crop, crop)
				var s scratch
				tr.resizeCrop(src, sz[0], sz[1], crop, crop, got.Pix, &s)
				for y := 0; y < crop; y++ {
					for x := 0; x < crop; x++ {
						sx, sy := x+ox, y+oy
						var w [3]uint8
						if sx >= 0 && sx < full.W && sy >= 0 && sy < full.H {
							w[0], w[1], w[2] = full.At(sx, sy)
						}
						r, g, b := got.At(x, y)
						if [3]uint8{r, g, b} != w {
							t.Fatalf("%v %v crop %d: pixel (%d,%d) = %v, want %v", f, sz, crop, x, y, [3]uint8{r, g, b}, w)
						}
					}
				}
			}
		}
	}
}

func TestNewEvalTransform(t *testing.T) {
	cases := []struct {
		cfg        EvalConfig
		resize     int
		crop       int
		wantErr    bool
		equivNamed string
	}{
		{EvalConfig{ImageSize: 224, Interp: Bicubic, Mean: HalfMean, Std: HalfStd, CropPct: 0.9}, 248, 224, false, "timm_vit"},
		{EvalConfig{ImageSize: 224, Interp: Bicubic, Mean: OpenAIMean, Std: OpenAIStd}, 224, 224, false, "clip224"},
		{EvalConfig{ImageSize: 224, Interp: Bilinear, Mean: ImageNetMean, Std: ImageNetStd, CropPct: 0.875, Mode: Square}, 256, 224, false, "in224"},
		{EvalConfig{ImageSize: 384, Interp: Bicubic, Mean: HalfMean, Std: HalfStd, CropPct: 1.0}, 384, 384, false, ""},
		{EvalConfig{ImageSize: 224, Interp: Bicubic, Mean: HalfMean, Std: HalfStd, CropPct: 0.95}, 235, 224, false, ""},
		{EvalConfig{ImageSize: 0, Interp: Bicubic, Mean: HalfMean, Std: HalfStd}, 0, 0, true, ""},
		{EvalConfig{ImageSize: 224, Interp: Bicubic, Mean: HalfMean, Std: HalfStd, CropPct: 1.5}, 0, 0, true, ""},
		{EvalConfig{ImageSize: 224, Interp: Bicubic, Mean: HalfMean}, 0, 0, true, ""},
		{EvalConfig{ImageSize: 224, Interp: Interpolation(9), Mean: HalfMean, Std: HalfStd}, 0, 0, true, ""},
	}
	for i, c := range cases {
		tr, err := NewEvalTransform("x", c.cfg)
		if (err != nil) != c.wantErr {
			t.Errorf("case %d: err = %v, wantErr %v", i, err, c.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if tr.Resize != c.resize || tr.Crop != c.crop {
			t.Errorf("case %d: resize %d crop %d, want %d %d", i, tr.Resize, tr.Crop, c.resize, c.crop)
		}
		if c.equivNamed != "" {
			named, _ := TransformByName(c.equivNamed)
			src := fixRGB(t, "decoded/rgb_500x375.png")
			a, _, err1 := tr.Apply(src)
			b, _, err2 := named.Apply(src)
			if err1 != nil || err2 != nil || string(a.Pix) != string(b.Pix) {
				t.Errorf("case %d: differs from %s (%v, %v)", i, c.equivNamed, err1, err2)
			}
		}
	}
}

func TestBadInput(t *testing.T) {
	tr, _ := TransformByName("clip224")
	bad := []*RGB{
		nil,
		{W: 0, H: 5},
		{W: 2, H: 2, Pix: make([]uint8, 5)},
		{W: -1, H: -1, Pix: make([]uint8, 3)},
		{W: 1 << 20, H: 1, Pix: nil},
		{W: 1 << 19, H: 1, Pix: make([]uint8, 3<<19)}, // wider than maxInputDim
	}
	for i, img := range bad {
		if _, _, err := tr.Apply(img); err == nil {
			t.Errorf("case %d: Apply accepted an invalid image", i)
		}
		if err := tr.ApplyInto(img, make([]float32, 3*224*224)); err == nil {
			t.Errorf("case %d: ApplyInto accepted an invalid image", i)
		}
		if _, err := Resize(img, 4, 4, Bicubic); err == nil {
			t.Errorf("case %d: Resize accepted an invalid image", i)
		}
	}
	ok := NewRGB(4, 4)
	if err := tr.ApplyInto(ok, make([]float32, 10)); err == nil {
		t.Error("ApplyInto accepted a short destination")
	}
	if _, err := Resize(ok, 0, 4, Bicubic); err == nil {
		t.Error("Resize accepted width 0")
	}
	if _, err := TransformByName("nope"); err == nil {
		t.Error("TransformByName accepted an unknown name")
	}
	if _, err := ParseInterpolation("lanczos"); err == nil {
		t.Error("ParseInterpolation accepted lanczos")
	}
	// A shorter-side resize of an extreme aspect ratio would exceed the
	// size limit: an error, not an enormous allocation.
	if _, _, err := tr.Apply(&RGB{W: 1, H: 400, Pix: make([]uint8, 1200)}); err == nil {
		t.Error("Apply accepted a 1x400 image that resizes to 224x89600")
	}
}

func TestApplyIntoNoAlloc(t *testing.T) {
	tr, _ := TransformByName("clip224")
	src := fixRGB(t, "decoded/rgb_500x375.png")
	dst := make([]float32, 3*224*224)
	if err := tr.ApplyInto(src, dst); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(20, func() { _ = tr.ApplyInto(src, dst) }); n > 0 {
		t.Errorf("ApplyInto allocates %v times per call", n)
	}
}

// BenchmarkResize500x375To224 is the evaluation path for a typical photo:
// bicubic shorter-side resize to 224, center crop, normalise (clip224).
func BenchmarkResize500x375To224(b *testing.B) {
	tr, _ := TransformByName("clip224")
	src := fixRGB(b, "decoded/rgb_500x375.png")
	dst := make([]float32, 3*224*224)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := tr.ApplyInto(src, dst); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "images/s")
}

// BenchmarkDecodePreprocessJPEG500x375 is the whole per-image CPU path of
// an embedding run for a typical photo: decode a 500×375 4:2:0 JPEG
// (quality 90, encoded here from the reference pixels) and run clip224.
func BenchmarkDecodePreprocessJPEG500x375(b *testing.B) {
	src := fixRGB(b, "decoded/rgb_500x375.png")
	m := image.NewRGBA(image.Rect(0, 0, src.W, src.H))
	for i := 0; i < src.W*src.H; i++ {
		copy(m.Pix[i*4:i*4+3], src.Pix[i*3:i*3+3])
		m.Pix[i*4+3] = 255
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, m, &jpeg.Options{Quality: 90}); err != nil {
		b.Fatal(err)
	}
	file := buf.Bytes()
	tr, _ := TransformByName("clip224")
	dst := make([]float32, 3*224*224)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		img, err := DecodeBytes(file, "bench.jpg")
		if err != nil {
			b.Fatal(err)
		}
		if err := tr.ApplyInto(img, dst); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "images/s")
}

// TestPipelinesFromFiles runs decode + pipeline on image files (three PNG
// modes and a 4:4:4 JPEG) and requires Pillow's after-crop bytes exactly.
func TestPipelinesFromFiles(t *testing.T) {
	for _, file := range []string{"cifar_32x32.png", "tall_7x300.png", "palette_224x224.png", "jpeg444_640x430.jpg"} {
		img, err := DecodeFile("testdata/transform/" + file)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range TransformNames() {
			tr, _ := TransformByName(name)
			got, _, err := tr.Apply(img)
			if err != nil {
				t.Fatal(err)
			}
			if want := fixRGB(t, name+"/u8/"+file); !bytes.Equal(got.Pix, want.Pix) {
				t.Errorf("%s %s: differs from Pillow", name, file)
			}
		}
	}
}
