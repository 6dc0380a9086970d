// Package imaging decodes image files into packed 8-bit RGB pixels the way
// Pillow's Image.open(f).convert('RGB') does, and resizes and transforms them
// the way Pillow and torchvision do.
package imaging

// RGB is a packed 8-bit RGB image: row-major, 3 bytes per pixel (HWC), no
// padding between rows, so len(Pix) == W*H*3 and pixel (x, y) starts at
// Pix[(y*W+x)*3].
type RGB struct {
	W, H int
	Pix  []uint8
}

// NewRGB returns a zeroed w×h image.
func NewRGB(w, h int) *RGB {
	return &RGB{W: w, H: h, Pix: make([]uint8, w*h*3)}
}

// At returns the R, G, B values of pixel (x, y); x and y must be in range.
func (m *RGB) At(x, y int) (r, g, b uint8) {
	i := (y*m.W + x) * 3
	return m.Pix[i], m.Pix[i+1], m.Pix[i+2]
}
