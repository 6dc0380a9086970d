package imaging

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/png"
	"io"
	"os"
	"sync"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
	"golang.org/x/image/webp"

	"plp/imaging/jpeg"
)

// MaxImagePixels is Pillow's Image.MAX_IMAGE_PIXELS. Like Pillow, Decode
// refuses images declaring more than twice as many pixels (Pillow's
// DecompressionBombError), before allocating them.
const MaxImagePixels = 89478485

// ErrDecompressionBomb is wrapped by the error for an image whose declared
// size exceeds 2*MaxImagePixels.
var ErrDecompressionBomb = errors.New("image exceeds the pixel limit (decompression bomb)")

// ErrUnknownFormat is wrapped by the error for data of no supported format.
var ErrUnknownFormat = errors.New("unknown image format")

// DecodeError is the error of every Decode function: it names the file.
type DecodeError struct {
	Path string
	Err  error
}

func (e *DecodeError) Error() string { return "imaging: decode " + e.Path + ": " + e.Err.Error() }
func (e *DecodeError) Unwrap() error { return e.Err }

// Format names a supported file format.
type Format string

const (
	JPEG Format = "JPEG"
	PNG  Format = "PNG"
	GIF  Format = "GIF"
	BMP  Format = "BMP"
	WEBP Format = "WEBP"
	TIFF Format = "TIFF"
)

// Sniff identifies the format from the first bytes, as Pillow does (the
// file name plays no part); it returns "" for unknown data.
func Sniff(data []byte) Format {
	switch {
	case len(data) >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF:
		return JPEG
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		return PNG
	case bytes.HasPrefix(data, []byte("GIF87a")), bytes.HasPrefix(data, []byte("GIF89a")):
		return GIF
	case bytes.HasPrefix(data, []byte("BM")):
		return BMP
	case len(data) >= 12 && string(data[:4]) == "RIFF" && string(data[8:12]) == "WEBP":
		return WEBP
	case bytes.HasPrefix(data, []byte("II*\x00")), bytes.HasPrefix(data, []byte("MM\x00*")):
		return TIFF
	}
	return ""
}

// DecodeFile reads and decodes the image file at path.
func DecodeFile(path string) (*RGB, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &DecodeError{Path: path, Err: err}
	}
	return DecodeBytes(data, path)
}

// Decode reads all of r and decodes it; path only names the image in errors.
func Decode(r io.Reader, path string) (*RGB, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, &DecodeError{Path: path, Err: err}
	}
	return DecodeBytes(data, path)
}

// DecodeBytes decodes an image file held in memory into RGB with the pixel
// values of Pillow's Image.open(f).convert('RGB'); path only names the image
// in errors. JPEG, PNG, GIF (first frame), BMP, WebP and TIFF are read;
// EXIF orientation is ignored, as Pillow ignores it. A corrupt, truncated or
// oversized image gives a *DecodeError, never a panic.
func DecodeBytes(data []byte, path string) (img *RGB, err error) {
	defer func() {
		// Defence in depth: the decoders check their input, but a bug in
		// one must not take down a run over millions of files.
		if r := recover(); r != nil {
			img, err = nil, &DecodeError{Path: path, Err: fmt.Errorf("decoder panic: %v", r)}
		}
	}()
	img, err = decode(data)
	if err != nil {
		return nil, &DecodeError{Path: path, Err: err}
	}
	return img, nil
}

// jpegDecoders recycles JPEG decoders and their plane buffers.
var jpegDecoders = sync.Pool{New: func() any { return new(jpeg.Decoder) }}

const pooledMaxPixels = 16 << 20

func decode(data []byte) (*RGB, error) {
	f := Sniff(data)
	if f == JPEG {
		d := jpegDecoders.Get().(*jpeg.Decoder)
		m, err := d.DecodeLimit(data, 2*MaxImagePixels)
		// Keep decoders whose buffers fit ordinary photos; one that has
		// held a huge image would pin that memory in the pool.
		if err == nil && m.Width*m.Height <= pooledMaxPixels {
			jpegDecoders.Put(d)
		}
		if err != nil {
			var tl *jpeg.TooLargeError
			if errors.As(err, &tl) {
				return nil, bombError(tl.Width, tl.Height)
			}
			return nil, err
		}
		return fromJPEG(m), nil
	}
	var (
		cfg       func(io.Reader) (image.Config, error)
		dec       func(io.Reader) (image.Image, error)
		grey16PNG bool
	)
	switch f {
	case PNG:
		cfg, dec = png.DecodeConfig, png.Decode
		// IHDR: bit depth 16, colour type 0 is Pillow's mode "I".
		grey16PNG = len(data) >= 26 && data[24] == 16 && data[25] == 0
	case GIF:
		cfg, dec = gif.DecodeConfig, gif.Decode
	case BMP:
		cfg, dec = bmp.DecodeConfig, bmp.Decode
	case WEBP:
		cfg, dec = webp.DecodeConfig, webp.Decode
	case TIFF:
		cfg, dec = tiff.DecodeConfig, tiff.Decode
	default:
		return nil, ErrUnknownFormat
	}
	c, err := cfg(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	if c.Width <= 0 || c.Height <= 0 {
		return nil, fmt.Errorf("%s image has size %dx%d", f, c.Width, c.Height)
	}
	if int64(c.Width)*int64(c.Height) > 2*MaxImagePixels {
		return nil, bombError(c.Width, c.Height)
	}
	m, err := dec(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	switch f {
	case GIF:
		return gifToRGB(data, m.(*image.Paletted), c.Width, c.Height), nil
	case WEBP:
		switch y := m.(type) {
		case *image.YCbCr:
			return webpToRGB(y), nil
		case *image.NYCbCrA:
			return webpToRGB(&y.YCbCr), nil
		}
	}
	return toRGB(m, grey16PNG), nil
}

func bombError(w, h int) error {
	return fmt.Errorf("%w: %dx%d = %d pixels, limit %d", ErrDecompressionBomb, w, h, int64(w)*int64(h), 2*MaxImagePixels)
}

// fromJPEG converts the decoder's output as Pillow's convert('RGB') does
// from modes L, RGB and CMYK.
func fromJPEG(m *jpeg.Image) *RGB {
	switch m.ColorSpace {
	case jpeg.RGB:
		return &RGB{W: m.Width, H: m.Height, Pix: m.Pix}
	case jpeg.Gray:
		out := NewRGB(m.Width, m.Height)
		greyToRGB(out.Pix, m.Pix)
		return out
	}
	out := NewRGB(m.Width, m.Height)
	cmykToRGB(out.Pix, m.Pix)
	return out
}

func greyToRGB(dst, src []uint8) {
	dst = dst[:3*len(src)]
	for i, v := range src {
		dst[3*i], dst[3*i+1], dst[3*i+2] = v, v, v
	}
}

// cmykToRGB is Pillow's cmyk2rgb: nk = 255-K, each channel
// nk - round(C*nk/255), with Pillow's MULDIV255 rounding.
func cmykToRGB(dst, src []uint8) {
	n := len(src) / 4
	dst = dst[:3*n]
	for i := 0; i < n; i++ {
		nk := 255 - int(src[4*i+3])
		for c := 0; c < 3; c++ {
			t := int(src[4*i+c])*nk + 128
			v := nk - ((t>>8)+t)>>8
			dst[3*i+c] = uint8(min(max(v, 0), 255))
		}
	}
}

// toRGB converts a decoded image the way Pillow's convert('RGB') treats the
// mode Pillow would have opened it in: alpha is dropped (not composited),
// 16-bit samples keep their high byte, except 16-bit greyscale PNGs
// (Pillow's mode "I"), whose values are clamped to 0..255.
func toRGB(m image.Image, grey16 bool) *RGB {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	out := NewRGB(w, h)
	p := out.Pix
	switch m := m.(type) {
	case *image.Gray:
		for y := 0; y < h; y++ {
			greyToRGB(p[y*w*3:(y+1)*w*3], m.Pix[y*m.Stride:y*m.Stride+w])
		}
	case *image.Gray16:
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+2*w]
			for x := 0; x < w; x++ {
				v := clamp255(int(row[2*x])<<8 | int(row[2*x+1]))
				i := 3 * (y*w + x)
				p[i], p[i+1], p[i+2] = v, v, v
			}
		}
	case *image.RGBA:
		copyRGB(p, m.Pix, m.Stride, w, h, 4, 1)
	case *image.NRGBA:
		copyRGB(p, m.Pix, m.Stride, w, h, 4, 1)
	case *image.RGBA64:
		copyRGB(p, m.Pix, m.Stride, w, h, 8, 2)
	case *image.NRGBA64:
		if grey16 {
			// 16-bit grey with a tRNS chunk: still mode "I" to Pillow.
			for y := 0; y < h; y++ {
				row := m.Pix[y*m.Stride : y*m.Stride+8*w]
				for x := 0; x < w; x++ {
					v := clamp255(int(row[8*x])<<8 | int(row[8*x+1]))
					i := 3 * (y*w + x)
					p[i], p[i+1], p[i+2] = v, v, v
				}
			}
			break
		}
		copyRGB(p, m.Pix, m.Stride, w, h, 8, 2)
	case *image.Paletted:
		lut := paletteRGB(m.Palette)
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+w]
			for x, ix := range row {
				i := 3 * (y*w + x)
				p[i], p[i+1], p[i+2] = lut[ix][0], lut[ix][1], lut[ix][2]
			}
		}
	case *image.CMYK:
		for y := 0; y < h; y++ {
			cmykToRGB(p[y*w*3:(y+1)*w*3], m.Pix[y*m.Stride:y*m.Stride+4*w])
		}
	default:
		// YCbCr (WebP, TIFF), NYCbCrA and others: non-premultiplied colour,
		// alpha dropped.
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				c := color.NRGBAModel.Convert(m.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
				i := 3 * (y*w + x)
				p[i], p[i+1], p[i+2] = c.R, c.G, c.B
			}
		}
	}
	return out
}

func clamp255(v int) uint8 {
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// copyRGB copies the first three channels of pixels of bpp bytes (step
// bytes per channel, the first being the high byte).
func copyRGB(dst, src []uint8, stride, w, h, bpp, step int) {
	for y := 0; y < h; y++ {
		row := src[y*stride : y*stride+bpp*w]
		out := dst[y*w*3 : (y+1)*w*3]
		for x := 0; x < w; x++ {
			out[3*x] = row[bpp*x]
			out[3*x+1] = row[bpp*x+step]
			out[3*x+2] = row[bpp*x+2*step]
		}
	}
}

// paletteRGB returns the palette's colours without alpha, 256 entries
// (indices beyond the palette are black, as in Pillow).
func paletteRGB(pal color.Palette) *[256][3]uint8 {
	var lut [256][3]uint8
	for i, c := range pal {
		if i >= 256 {
			break
		}
		n := color.NRGBAModel.Convert(c).(color.NRGBA)
		lut[i] = [3]uint8{n.R, n.G, n.B}
	}
	return &lut
}

// gifToRGB places the first frame on the logical screen as Pillow 9.4
// does (outside the frame: the transparent index if the frame has one,
// else index 0) and looks colours up in the frame's own colour table, with
// the transparent entry's real colour, which image/gif blanks.
func gifToRGB(data []byte, fr *image.Paletted, sw, sh int) *RGB {
	lut := paletteRGB(fr.Palette)
	fill := uint8(0)
	if table, trns, ok := gifFirstFrameTable(data); ok {
		for i := 0; i < len(table)/3 && i < 256; i++ {
			lut[i] = [3]uint8{table[3*i], table[3*i+1], table[3*i+2]}
		}
		if trns >= 0 {
			fill = uint8(trns)
		}
	}
	out := NewRGB(sw, sh)
	p := out.Pix
	for y := 0; y < sh; y++ {
		for x := 0; x < sw; x++ {
			ix := fill
			if image.Pt(x, y).In(fr.Rect) {
				ix = fr.Pix[fr.PixOffset(x, y)]
			}
			i := 3 * (y*sw + x)
			p[i], p[i+1], p[i+2] = lut[ix][0], lut[ix][1], lut[ix][2]
		}
	}
	return out
}

// gifFirstFrameTable returns the colour table the first frame uses (local,
// else global) and its transparent index (-1 if none).
func gifFirstFrameTable(data []byte) (table []byte, trns int, ok bool) {
	if len(data) < 13 {
		return nil, -1, false
	}
	pos := 13
	var global []byte
	if flags := data[10]; flags&0x80 != 0 {
		n := 3 << (flags&7 + 1)
		if pos+n > len(data) {
			return nil, -1, false
		}
		global = data[pos : pos+n]
		pos += n
	}
	trns = -1
	for pos < len(data) {
		switch data[pos] {
		case 0x21: // extension
			if pos+2 > len(data) {
				return nil, -1, false
			}
			label := data[pos+1]
			pos += 2
			for pos < len(data) && data[pos] != 0 {
				n := int(data[pos])
				if label == 0xF9 && n >= 4 && pos+5 <= len(data) && data[pos+1]&1 != 0 {
					trns = int(data[pos+4])
				}
				pos += 1 + n
			}
			pos++
		case 0x2C: // image descriptor
			if pos+10 > len(data) {
				return nil, -1, false
			}
			if flags := data[pos+9]; flags&0x80 != 0 {
				n := 3 << (flags&7 + 1)
				if pos+10+n > len(data) {
					return nil, -1, false
				}
				return data[pos+10 : pos+10+n], trns, true
			}
			return global, trns, global != nil
		default:
			return nil, -1, false
		}
	}
	return nil, -1, false
}
