package imaging

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// refLine is one line of a reference list: the SHA-256 of Pillow's
// convert('RGB') bytes (HWC) and the image size.
type refLine struct {
	sum  string
	w, h int
	file string
}

func readRefs(t testing.TB, path string) []refLine {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var refs []refLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 4 {
			continue
		}
		w, _ := strconv.Atoi(fs[1])
		h, _ := strconv.Atoi(fs[2])
		refs = append(refs, refLine{fs[0], w, h, fs[3]})
	}
	if len(refs) == 0 {
		t.Fatalf("%s: no references", path)
	}
	return refs
}

// readRefPNG loads a reference decode stored as an RGB PNG.
func readRefPNG(t testing.TB, path string) []uint8 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	rgba, ok := m.(*image.RGBA)
	if !ok {
		t.Fatalf("%s: %T, want RGB PNG", path, m)
	}
	out := make([]uint8, 0, len(rgba.Pix)/4*3)
	for i := 0; i < len(rgba.Pix); i += 4 {
		out = append(out, rgba.Pix[i], rgba.Pix[i+1], rgba.Pix[i+2])
	}
	return out
}

func maxDiff(a, b []uint8) (int, float64) {
	m, s := 0, 0
	for i := range a {
		d := int(a[i]) - int(b[i])
		if d < 0 {
			d = -d
		}
		m = max(m, d)
		s += d
	}
	return m, float64(s) / float64(len(a))
}

// TestDecodeFixtures decodes the reference image set: the non-JPEG files
// must equal Pillow's convert('RGB') exactly (checked by hash); the JPEGs,
// whose reference pixels live with the JPEG decoder's test data, are
// compared pixel by pixel.
func TestDecodeFixtures(t *testing.T) {
	for _, r := range readRefs(t, "testdata/decode/decoded.sha256") {
		t.Run(r.file, func(t *testing.T) {
			path := filepath.Join("testdata", "decode", r.file)
			isJPEG := strings.HasSuffix(r.file, ".jpg")
			if isJPEG {
				path = filepath.Join("jpeg", "testdata", r.file)
			}
			img, err := DecodeFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if img.W != r.w || img.H != r.h || len(img.Pix) != r.w*r.h*3 {
				t.Fatalf("got %dx%d (%d bytes), want %dx%d", img.W, img.H, len(img.Pix), r.w, r.h)
			}
			if isJPEG {
				ref := readRefPNG(t, filepath.Join("jpeg", "testdata", "ref", r.file+".rgb.png"))
				sum := sha256.Sum256(ref)
				if hex.EncodeToString(sum[:]) != r.sum {
					t.Fatal("reference PNG does not match the reference hash")
				}
				m, mean := maxDiff(img.Pix, ref)
				t.Logf("max |diff| %d, mean %.4f", m, mean)
				if m > 0 {
					t.Errorf("max |diff| %d (mean %.4f), want 0", m, mean)
				}
				return
			}
			sum := sha256.Sum256(img.Pix)
			if got := hex.EncodeToString(sum[:]); got != r.sum {
				t.Errorf("pixels differ from Pillow's (sha256 %s, want %s)", got, r.sum)
			}
		})
	}
}

// TestDecodeFormats covers the other formats and PNG modes: small images
// with Pillow's convert('RGB') hashes.
func TestDecodeFormats(t *testing.T) {
	dir := filepath.Join("testdata", "decode", "extra")
	for _, r := range readRefs(t, filepath.Join(dir, "expected.sha256")) {
		t.Run(r.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, r.file))
			if err != nil {
				t.Fatal(err)
			}
			img, err := Decode(bytes.NewReader(data), r.file)
			if err != nil {
				t.Fatal(err)
			}
			if img.W != r.w || img.H != r.h {
				t.Fatalf("got %dx%d, want %dx%d", img.W, img.H, r.w, r.h)
			}
			sum := sha256.Sum256(img.Pix)
			if got := hex.EncodeToString(sum[:]); got != r.sum {
				t.Errorf("pixels differ from Pillow's")
			}
		})
	}
}

// TestDecodeJPEGModes checks the conversions of the non-RGB JPEG modes
// (Pillow's CMYK -> RGB, L -> RGB) against Pillow's convert('RGB').
func TestDecodeJPEGModes(t *testing.T) {
	for _, file := range []string{"cmyk_64x48.jpg", "ycck_64x48.jpg", "proggray_97x61.jpg"} {
		img, err := DecodeFile("jpeg/testdata/" + file)
		if err != nil {
			t.Fatal(err)
		}
		ref := readRefPNG(t, "jpeg/testdata/ref/"+file+".rgb.png")
		if len(ref) != len(img.Pix) {
			t.Fatalf("%s: %d bytes, reference %d", file, len(img.Pix), len(ref))
		}
		if m, mean := maxDiff(img.Pix, ref); m != 0 {
			t.Errorf("%s: max |diff| %d (mean %.4f), want 0", file, m, mean)
		}
	}
}

// pngHeader returns a PNG signature and IHDR chunk declaring w×h 8-bit RGB,
// with no image data: enough for a size check, a bomb if large.
func pngHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := []byte{0, 0, 0, 13, 'I', 'H', 'D', 'R',
		byte(w >> 24), byte(w >> 16), byte(w >> 8), byte(w),
		byte(h >> 24), byte(h >> 16), byte(h >> 8), byte(h),
		8, 2, 0, 0, 0}
	b.Write(ihdr)
	crc := crc32IEEE(ihdr[4:])
	b.Write([]byte{byte(crc >> 24), byte(crc >> 16), byte(crc >> 8), byte(crc)})
	return b.Bytes()
}

func TestDecompressionBomb(t *testing.T) {
	// 2*MaxImagePixels+1 pixels is refused; the data holds no pixels, so
	// reaching the decoder would fail differently.
	jpegHdr := func(w, h int) []byte {
		return []byte{0xFF, 0xD8, 0xFF, 0xC0, 0, 11, 8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), 1, 1, 0x11, 0, 0xFF, 0xD9}
	}
	cases := []struct {
		name string
		data []byte
		bomb bool
	}{
		{"png 20000x20000", pngHeader(20000, 20000), true},
		{"png 1x1", pngHeader(1, 1), false},
		{"jpeg 65535x65535", jpegHdr(65535, 65535), true},
		{"jpeg 13000x13000", jpegHdr(13000, 13000), false}, // 169M pixels: under 2x the limit
	}
	for _, tc := range cases {
		_, err := DecodeBytes(tc.data, tc.name)
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		if got := errors.Is(err, ErrDecompressionBomb); got != tc.bomb {
			t.Errorf("%s: bomb = %v, want %v (err %v)", tc.name, got, tc.bomb, err)
		}
		var de *DecodeError
		if !errors.As(err, &de) || de.Path != tc.name || !strings.Contains(err.Error(), tc.name) {
			t.Errorf("%s: error %q does not name the file", tc.name, err)
		}
	}
}

func TestDecodeCorrupt(t *testing.T) {
	files := []string{
		"jpeg/testdata/s422_97x61.jpg",
		"jpeg/testdata/progrestart_97x61.jpg",
		"testdata/decode/palette_224x224.png",
		"testdata/decode/extra/first_48x32.gif",
		"testdata/decode/extra/rgb24_48x32.bmp",
		"testdata/decode/extra/lossless_48x32.webp",
		"testdata/decode/extra/rgb_48x32.tiff",
	}
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{0, 1, 5, 16, len(data) / 3, len(data) * 2 / 3} {
			_, err := DecodeBytes(data[:n], path)
			if err == nil {
				t.Errorf("%s cut to %d bytes: no error", path, n)
				continue
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("%s: error %q does not name the file", path, err)
			}
		}
	}
	if _, err := DecodeBytes([]byte("not an image"), "x.txt"); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("text: err = %v, want ErrUnknownFormat", err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, path := range []string{
		"jpeg/testdata/tiny420_3x5.jpg",
		"jpeg/testdata/progrestart_97x61.jpg",
		"testdata/decode/extra/bw1_48x32.png",
		"testdata/decode/extra/trns_48x32.gif",
		"testdata/decode/extra/p8_48x32.bmp",
		"testdata/decode/extra/lossless_48x32.webp",
	} {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := DecodeBytes(data, "fuzz")
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz") {
				t.Fatalf("error %q does not name the file", err)
			}
			if strings.Contains(err.Error(), "decoder panic") {
				t.Fatalf("panic: %v", err)
			}
			return
		}
		if img.W <= 0 || img.H <= 0 || len(img.Pix) != img.W*img.H*3 {
			t.Fatalf("%dx%d image with %d bytes", img.W, img.H, len(img.Pix))
		}
	})
}

func crc32IEEE(b []byte) uint32 { return crc32.ChecksumIEEE(b) }
