package jpeg

import (
	"bytes"
	"errors"
	"image"
	stdjpeg "image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

// readRef loads a reference decode stored as PNG: RGB, grey or (for CMYK)
// RGBA holding the four CMYK bytes.
func readRef(t testing.TB, name string) []uint8 {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "ref", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	switch m := m.(type) {
	case *image.Gray:
		return m.Pix
	case *image.NRGBA:
		return m.Pix
	case *image.RGBA:
		// An RGB PNG: drop the opaque alpha.
		out := make([]uint8, 0, len(m.Pix)/4*3)
		for i := 0; i < len(m.Pix); i += 4 {
			out = append(out, m.Pix[i], m.Pix[i+1], m.Pix[i+2])
		}
		return out
	}
	t.Fatalf("%s: unexpected reference type %T", name, m)
	return nil
}

func maxAbsDiff(a, b []uint8) (maxd int, mean float64) {
	sum := 0
	for i := range a {
		d := int(a[i]) - int(b[i])
		if d < 0 {
			d = -d
		}
		sum += d
		maxd = max(maxd, d)
	}
	return maxd, float64(sum) / float64(len(a))
}

// The reference pixels are Pillow 9.4's decodes (libjpeg-turbo 2.1.5,
// default settings), in Pillow's native mode (L, RGB or CMYK).
var decodeCases = []struct {
	file        string
	w, h        int
	space       ColorSpace
	progressive bool
}{
	{"jpeg420_1024x683.jpg", 1024, 683, RGB, false},
	{"jpeg444_640x430.jpg", 640, 430, RGB, false},
	{"progressive_600x400.jpg", 600, 400, RGB, true},
	{"grayjpeg_300x200.jpg", 300, 200, Gray, false},
	{"s422_97x61.jpg", 97, 61, RGB, false},
	{"s440_97x61.jpg", 97, 61, RGB, false},
	{"s411_97x61.jpg", 97, 61, RGB, false},
	{"mixed_97x61.jpg", 97, 61, RGB, false},
	{"restart_97x61.jpg", 97, 61, RGB, false},
	{"progrestart_97x61.jpg", 97, 61, RGB, true},
	{"prog444_97x61.jpg", 97, 61, RGB, true},
	{"proggray_97x61.jpg", 97, 61, Gray, true},
	{"rgb_97x61.jpg", 97, 61, RGB, false},
	{"multiscan_97x61.jpg", 97, 61, RGB, false}, // sequential, one scan per component
	{"tiny420_3x5.jpg", 3, 5, RGB, false},
	{"one_1x1.jpg", 1, 1, RGB, false},
	{"small422_17x9.jpg", 17, 9, RGB, false},
	{"cmyk_64x48.jpg", 64, 48, CMYK, false},
	{"ycck_64x48.jpg", 64, 48, CMYK, false}, // Adobe transform 2
}

func TestDecodeMatchesPillow(t *testing.T) {
	var dec Decoder // shared, to exercise buffer reuse across sizes and kinds
	for _, tc := range decodeCases {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := DecodeConfig(data)
			if err != nil {
				t.Fatal(err)
			}
			want := Config{Width: tc.w, Height: tc.h, ColorSpace: tc.space, Progressive: tc.progressive}
			if cfg != want {
				t.Fatalf("config %+v, want %+v", cfg, want)
			}
			img, err := dec.Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			if img.Width != tc.w || img.Height != tc.h || img.ColorSpace != tc.space {
				t.Fatalf("got %dx%d space %d", img.Width, img.Height, img.ColorSpace)
			}
			refName := tc.file + ".native.png"
			if _, err := os.Stat(filepath.Join("testdata", "ref", refName)); err != nil {
				refName = tc.file + ".rgb.png"
			}
			ref := readRef(t, refName)
			if len(ref) != len(img.Pix) {
				t.Fatalf("%d samples, reference has %d", len(img.Pix), len(ref))
			}
			maxd, mean := maxAbsDiff(img.Pix, ref)
			t.Logf("max |diff| %d, mean %.4f", maxd, mean)
			// The decoder reproduces libjpeg-turbo's arithmetic, so any
			// difference at all is a bug.
			if maxd != 0 {
				t.Errorf("max |diff| %d (mean %.4f) from the reference, want 0", maxd, mean)
			}
		})
	}
}

func TestUnsupported(t *testing.T) {
	data, err := os.ReadFile("testdata/arith_97x61.jpg")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(data); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("arithmetic-coded JPEG: err = %v, want ErrUnsupported", err)
	}
}

func TestDecodeLimit(t *testing.T) {
	data, err := os.ReadFile("testdata/s422_97x61.jpg")
	if err != nil {
		t.Fatal(err)
	}
	var d Decoder
	_, err = d.DecodeLimit(data, 97*61-1)
	var tl *TooLargeError
	if !errors.As(err, &tl) || tl.Width != 97 || tl.Height != 61 {
		t.Fatalf("err = %v, want TooLargeError 97x61", err)
	}
	if _, err := d.DecodeLimit(data, 97*61); err != nil {
		t.Fatalf("at the limit: %v", err)
	}
}

// TestCorrupt feeds truncated and damaged files: each must give an error
// or an image of the declared size, never a panic.
func TestCorrupt(t *testing.T) {
	for _, name := range []string{"s422_97x61.jpg", "progrestart_97x61.jpg", "restart_97x61.jpg", "cmyk_64x48.jpg"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		// Truncation inside the entropy-coded data must be an error.
		sos := bytes.Index(data, []byte{0xFF, sos})
		for _, n := range []int{0, 1, 2, 3, 20, sos + 20, len(data) / 2, len(data) - 40} {
			if n >= len(data) {
				continue
			}
			if img, err := Decode(data[:n]); err == nil {
				t.Errorf("%s cut to %d bytes: got %dx%d image, want error", name, n, img.Width, img.Height)
			}
		}
		// Damaged bytes: no panic; an image, when returned, has its size.
		cfg, _ := DecodeConfig(data)
		for i := 2; i < len(data); i += 7 {
			bad := bytes.Clone(data)
			bad[i] ^= 0x5A
			img, err := Decode(bad)
			if err == nil && len(img.Pix) != img.Width*img.Height*int(img.ColorSpace) {
				t.Errorf("%s byte %d: %d samples for %dx%d", name, i, len(img.Pix), img.Width, img.Height)
			}
			_ = cfg
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, name := range []string{"s422_97x61.jpg", "progrestart_97x61.jpg", "tiny420_3x5.jpg", "cmyk_64x48.jpg", "proggray_97x61.jpg"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var d Decoder
		img, err := d.DecodeLimit(data, 1<<22)
		if err != nil {
			return
		}
		if len(img.Pix) != img.Width*img.Height*int(img.ColorSpace) {
			t.Fatalf("%d samples for %dx%d", len(img.Pix), img.Width, img.Height)
		}
	})
}

// BenchmarkDecodeJPEG compares this decoder (to RGB pixels) with
// image/jpeg (to YCbCr planes, no colour conversion) on the 500×375 4:2:0
// quality-90 photo and on a 4:4:4 and a progressive file.
func BenchmarkDecodeJPEG(b *testing.B) {
	for _, file := range []string{"bench420_500x375.jpg", "jpeg444_640x430.jpg", "progressive_600x400.jpg"} {
		data, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(file+"/plp", func(b *testing.B) {
			var d Decoder
			b.ReportAllocs()
			defer cpuTimer(b)()
			for b.Loop() {
				if _, err := d.Decode(data); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "images/s")
		})
		b.Run(file+"/image_jpeg", func(b *testing.B) {
			b.ReportAllocs()
			defer cpuTimer(b)()
			for b.Loop() {
				if _, err := stdjpeg.Decode(bytes.NewReader(data)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}
