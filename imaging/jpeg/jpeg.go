// Package jpeg decodes baseline and progressive 8-bit JPEG images to the
// same pixels as libjpeg-turbo 2.1 with its default settings, as Pillow uses
// it: the ISLOW integer inverse DCT, "fancy" (triangular) chroma upsampling
// and libjpeg's fixed-point YCbCr→RGB tables.
//
// On the reference files (baseline and progressive; 4:2:0, 4:2:2, 4:4:0,
// 4:1:1, 4:4:4 and mixed sampling; greyscale, Adobe RGB, CMYK and YCCK;
// restart intervals) the output equals Pillow's byte for byte. Not
// supported: arithmetic coding, lossless and 12-bit JPEGs (ErrUnsupported),
// and libjpeg's block smoothing, which only applies to progressive files
// whose scans stop before the last refinement.
//
// It decodes into planar buffers that a Decoder keeps between calls, so
// decoding many images with one Decoder allocates little beyond the output.
// On amd64 with AVX2 the inverse DCT and the 4:2:0/4:2:2 upsampling and
// colour conversion run as vector code with the same integer arithmetic.
package jpeg

import (
	"errors"
	"fmt"
)

// ErrUnsupported is wrapped by errors for valid but unsupported JPEG
// variants (arithmetic coding, lossless, 12-bit samples).
var ErrUnsupported = errors.New("jpeg: unsupported")

// FormatError reports malformed JPEG data.
type FormatError string

func (e FormatError) Error() string { return "jpeg: invalid data: " + string(e) }

func errorf(format string, args ...any) error {
	return FormatError(fmt.Sprintf(format, args...))
}

func unsupported(what string) error {
	return fmt.Errorf("%w: %s", ErrUnsupported, what)
}

// ColorSpace is the colour model of the decoded pixels.
type ColorSpace int

const (
	Gray ColorSpace = 1 // 1 channel
	RGB  ColorSpace = 3 // 3 channels
	// CMYK is 4 channels with the values Pillow's "CMYK" mode holds for a
	// JPEG: libjpeg's CMYK output (YCCK converted) inverted, as Pillow
	// assumes Adobe's inverted convention for every CMYK JPEG.
	CMYK ColorSpace = 4
)

// Config is what the frame header says about an image.
type Config struct {
	Width, Height int
	ColorSpace    ColorSpace
	Progressive   bool
}

// Image is a decoded image: Width×Height pixels of int(ColorSpace) interleaved
// 8-bit channels each, rows packed without padding.
type Image struct {
	Width, Height int
	ColorSpace    ColorSpace
	Pix           []uint8
}

// maxScans bounds the number of scans in a file, as TurboJPEG's scan limit
// does; real progressive files have about ten.
const maxScans = 500

// marker codes
const (
	sof0  = 0xC0
	sof1  = 0xC1
	sof2  = 0xC2
	dht   = 0xC4
	rst0  = 0xD0
	rst7  = 0xD7
	soi   = 0xD8
	eoi   = 0xD9
	sos   = 0xDA
	dqt   = 0xDB
	dri   = 0xDD
	app0  = 0xE0
	app14 = 0xEE
)

// component is one colour component of the frame.
type component struct {
	id     uint8
	h, v   int // sampling factors
	tq     int // quantisation table
	bw, bh int // blocks per line / column, padded to whole MCUs
	// Size in samples of the component ("downsampled_width/height").
	w, h2   int
	plane   []uint8 // bw*8 × bh*8 samples after the IDCT
	coefs   []int16 // progressive only: bw*bh blocks of 64, natural order
	dcPred  int32
	td, ta  int  // Huffman tables of the current scan
	scanned bool // some scan has covered this component
}

// Decoder decodes JPEG images, reusing its buffers between calls. A
// Decoder is not safe for concurrent use; the zero value is ready.
type Decoder struct {
	data []byte

	width, height int
	progressive   bool
	baseline      bool
	sawSOF        bool
	comps         []component
	compsArr      [4]component
	hmax, vmax    int
	mcusX, mcusY  int
	restart       int
	jfif          bool
	adobe         bool
	adobeXform    int

	quant   [4][64]int32 // natural order
	quantOK [4]bool
	dcTab   [4]huffTable
	acTab   [4]huffTable

	br     bitReader
	eobrun int32

	rowBuf []uint8 // scratch for upsampling
	sumBuf []int32
}

var unzig = [64 + 16]uint8{
	0, 1, 8, 16, 9, 2, 3, 10,
	17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34,
	27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36,
	29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46,
	53, 60, 61, 54, 47, 55, 62, 63,
	// Extra entries absorb run lengths that overshoot the block in corrupt
	// data, as libjpeg's table does.
	63, 63, 63, 63, 63, 63, 63, 63,
	63, 63, 63, 63, 63, 63, 63, 63,
}

// Decode decodes a whole JPEG file held in data.
func Decode(data []byte) (*Image, error) {
	var d Decoder
	return d.Decode(data)
}

// DecodeConfig returns the frame header's contents without decoding pixels.
func DecodeConfig(data []byte) (Config, error) {
	var d Decoder
	if err := d.readHeaders(data, true); err != nil {
		return Config{}, err
	}
	return d.config(), nil
}

func (d *Decoder) config() Config {
	return Config{Width: d.width, Height: d.height, ColorSpace: d.outSpace(), Progressive: d.progressive}
}

// outSpace is the colour model Pillow asks libjpeg for.
func (d *Decoder) outSpace() ColorSpace {
	switch len(d.comps) {
	case 1:
		return Gray
	case 3:
		return RGB
	}
	return CMYK
}

// Decode decodes a whole JPEG file held in data. The returned image does
// not share memory with d and stays valid after later calls.
func (d *Decoder) Decode(data []byte) (*Image, error) {
	return d.DecodeLimit(data, 0)
}

// DecodeLimit is Decode but refuses, before allocating pixel memory, images
// with more than maxPixels pixels (when maxPixels > 0).
func (d *Decoder) DecodeLimit(data []byte, maxPixels int64) (*Image, error) {
	if err := d.readHeaders(data, true); err != nil {
		return nil, err
	}
	if maxPixels > 0 {
		if int64(d.width)*int64(d.height) > maxPixels {
			return nil, &TooLargeError{Width: d.width, Height: d.height, Limit: maxPixels}
		}
		// Planes are padded to whole MCUs, which for extreme aspect ratios
		// and sampling factors is many times the image: bound that too.
		for i := range d.comps {
			c := &d.comps[i]
			if int64(c.bw)*int64(c.bh)*64 > 2*maxPixels+1<<20 {
				return nil, &TooLargeError{Width: d.width, Height: d.height, Limit: maxPixels}
			}
		}
	}
	if err := d.readHeaders(data, false); err != nil {
		return nil, err
	}
	if d.progressive {
		d.finishProgressive()
	} else {
		for i := range d.comps {
			if c := &d.comps[i]; !c.scanned {
				// No data for this component: all coefficients zero, which
				// the IDCT turns into mid-grey.
				for j := range c.plane {
					c.plane[j] = 128
				}
			}
		}
	}
	img := &Image{Width: d.width, Height: d.height, ColorSpace: d.outSpace()}
	img.Pix = make([]uint8, d.width*d.height*int(img.ColorSpace))
	d.convert(img)
	return img, nil
}

// TooLargeError reports an image whose declared size exceeds the limit.
type TooLargeError struct {
	Width, Height int
	Limit         int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("jpeg: image size %dx%d exceeds the limit of %d pixels", e.Width, e.Height, e.Limit)
}

func (d *Decoder) reset(data []byte) {
	d.data = data
	d.width, d.height = 0, 0
	d.progressive, d.baseline, d.sawSOF = false, false, false
	d.comps = nil
	d.restart = 0
	d.jfif, d.adobe, d.adobeXform = false, false, -1
	d.quantOK = [4]bool{}
	for i := range d.dcTab {
		d.dcTab[i].defined = false
		d.acTab[i].defined = false
	}
}

// readHeaders walks the marker segments. With headerOnly it stops at the
// frame header; otherwise it decodes every scan until EOI.
func (d *Decoder) readHeaders(data []byte, headerOnly bool) error {
	d.reset(data)
	if len(data) < 2 || data[0] != 0xFF || data[1] != soi {
		return errorf("missing SOI marker")
	}
	pos := 2
	sawScan := false
	nscans := 0
	for {
		// Find the next marker, skipping fill bytes (and, like libjpeg,
		// stray garbage between segments).
		for pos < len(data) && data[pos] != 0xFF {
			pos++
		}
		for pos < len(data) && data[pos] == 0xFF {
			pos++
		}
		if pos >= len(data) {
			if headerOnly {
				return errorf("no frame header")
			}
			if sawScan {
				// libjpeg accepts a missing EOI after complete scans; a scan
				// cut short is caught by the overrun check.
				return nil
			}
			return errorf("truncated file")
		}
		m := data[pos]
		pos++
		if m == 0 || (m >= rst0 && m <= rst7) || m == 0x01 {
			continue // stuffed byte or standalone marker out of place
		}
		if m == eoi {
			if headerOnly {
				return errorf("no frame header")
			}
			if !sawScan {
				return errorf("no image data")
			}
			return nil
		}
		if pos+2 > len(data) {
			return errorf("truncated marker segment")
		}
		n := int(data[pos])<<8 | int(data[pos+1])
		if n < 2 || pos+n > len(data) {
			return errorf("bad marker segment length")
		}
		seg := data[pos+2 : pos+n]
		pos += n
		var err error
		switch m {
		case sof0, sof1, sof2:
			if d.sawSOF {
				return errorf("duplicate frame header")
			}
			err = d.parseSOF(seg, m)
			if err == nil && headerOnly {
				return nil
			}
		case 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF:
			return unsupported(fmt.Sprintf("frame type SOF%d", m-0xC0))
		case dht:
			err = d.parseDHT(seg)
		case dqt:
			err = d.parseDQT(seg)
		case dri:
			if len(seg) != 2 {
				return errorf("bad DRI segment")
			}
			d.restart = int(seg[0])<<8 | int(seg[1])
		case app0:
			if len(seg) >= 5 && string(seg[:5]) == "JFIF\x00" {
				d.jfif = true
			}
		case app14:
			if len(seg) >= 12 && string(seg[:5]) == "Adobe" {
				d.adobe = true
				d.adobeXform = int(seg[11])
			}
		case sos:
			if !d.sawSOF {
				return errorf("scan before frame header")
			}
			if headerOnly {
				return errorf("no frame header")
			}
			if !sawScan {
				d.allocate()
			}
			sawScan = true
			// Each scan walks every block even when its data is empty, so a
			// flood of tiny scans would cost unbounded time.
			if nscans++; nscans > maxScans {
				return errorf("more than %d scans", maxScans)
			}
			pos, err = d.decodeScan(seg, pos)
		}
		if err != nil {
			return err
		}
	}
}

func (d *Decoder) parseSOF(seg []byte, m uint8) error {
	if len(seg) < 6 {
		return errorf("short frame header")
	}
	if seg[0] != 8 {
		return unsupported(fmt.Sprintf("%d-bit samples", seg[0]))
	}
	d.height = int(seg[1])<<8 | int(seg[2])
	d.width = int(seg[3])<<8 | int(seg[4])
	nc := int(seg[5])
	if d.width == 0 || d.height == 0 {
		// Height 0 (set later by a DNL marker) is not supported, as in libjpeg.
		return errorf("empty image")
	}
	if nc != 1 && nc != 3 && nc != 4 {
		return unsupported(fmt.Sprintf("%d components", nc))
	}
	if len(seg) != 6+3*nc {
		return errorf("bad frame header length")
	}
	d.progressive = m == sof2
	d.baseline = !d.progressive
	d.comps = d.compsArr[:nc]
	for i := range d.comps {
		d.comps[i].scanned = false
	}
	d.hmax, d.vmax = 1, 1
	for i := range d.comps {
		c := &d.comps[i]
		p := seg[6+3*i:]
		c.id = p[0]
		c.h, c.v = int(p[1]>>4), int(p[1]&15)
		c.tq = int(p[2])
		if c.h < 1 || c.h > 4 || c.v < 1 || c.v > 4 || c.tq > 3 {
			return errorf("bad component parameters")
		}
		for j := 0; j < i; j++ {
			if d.comps[j].id == c.id {
				return errorf("duplicate component id")
			}
		}
		d.hmax = max(d.hmax, c.h)
		d.vmax = max(d.vmax, c.v)
	}
	if nc == 1 {
		// A single component is coded non-interleaved, one block per MCU,
		// whatever its sampling factors say.
		d.comps[0].h, d.comps[0].v, d.hmax, d.vmax = 1, 1, 1, 1
	}
	mcuW, mcuH := 8*d.hmax, 8*d.vmax
	d.mcusX = (d.width + mcuW - 1) / mcuW
	d.mcusY = (d.height + mcuH - 1) / mcuH
	blocks := 0
	for i := range d.comps {
		c := &d.comps[i]
		c.bw, c.bh = d.mcusX*c.h, d.mcusY*c.v
		c.w = (d.width*c.h + d.hmax - 1) / d.hmax
		c.h2 = (d.height*c.v + d.vmax - 1) / d.vmax
		blocks += c.h * c.v
		// libjpeg upsamples only by integral factors.
		if d.hmax%c.h != 0 || d.vmax%c.v != 0 {
			return unsupported("fractional sampling factors")
		}
	}
	if blocks > 10 {
		return errorf("too many blocks per MCU")
	}
	d.sawSOF = true
	return nil
}

func (d *Decoder) parseDQT(seg []byte) error {
	for len(seg) > 0 {
		pq, tq := seg[0]>>4, int(seg[0]&15)
		if tq > 3 || pq > 1 {
			return errorf("bad DQT segment")
		}
		seg = seg[1:]
		q := &d.quant[tq]
		if pq == 0 {
			if len(seg) < 64 {
				return errorf("short DQT segment")
			}
			for k := 0; k < 64; k++ {
				q[unzig[k]] = int32(seg[k])
			}
			seg = seg[64:]
		} else {
			if len(seg) < 128 {
				return errorf("short DQT segment")
			}
			for k := 0; k < 64; k++ {
				q[unzig[k]] = int32(seg[2*k])<<8 | int32(seg[2*k+1])
			}
			seg = seg[128:]
		}
		d.quantOK[tq] = true
	}
	return nil
}

func (d *Decoder) parseDHT(seg []byte) error {
	for len(seg) > 0 {
		if len(seg) < 17 {
			return errorf("short DHT segment")
		}
		tc, th := seg[0]>>4, int(seg[0]&15)
		if tc > 1 || th > 3 {
			return errorf("bad DHT segment")
		}
		var counts [16]uint8
		copy(counts[:], seg[1:17])
		total := 0
		for _, c := range counts {
			total += int(c)
		}
		if total > 256 || len(seg) < 17+total {
			return errorf("bad DHT segment")
		}
		t := &d.dcTab[th]
		if tc == 1 {
			t = &d.acTab[th]
		}
		if err := t.build(&counts, seg[17:17+total]); err != nil {
			return err
		}
		seg = seg[17+total:]
	}
	return nil
}

// allocate sizes the component planes (and coefficient buffers for
// progressive images), reusing earlier buffers when large enough.
func (d *Decoder) allocate() {
	for i := range d.comps {
		c := &d.comps[i]
		n := c.bw * 8 * c.bh * 8
		if cap(c.plane) < n {
			c.plane = make([]uint8, n)
		}
		c.plane = c.plane[:n]
		if d.progressive {
			nc := c.bw * c.bh * 64
			if cap(c.coefs) < nc {
				c.coefs = make([]int16, nc)
			} else {
				c.coefs = c.coefs[:nc]
				clear(c.coefs)
			}
		}
	}
}
