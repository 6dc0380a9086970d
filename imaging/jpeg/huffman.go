package jpeg

import "encoding/binary"

// lutBits is the width of the Huffman lookahead: codes up to this length
// (almost all symbols of real images) decode with one table read.
const lutBits = 10

// huffTable is one Huffman table in the form the decoder reads it.
type huffTable struct {
	// lut maps the next lutBits bits to length<<8 | symbol, or 0 when the
	// code is longer than lutBits.
	lut [1 << lutBits]uint16
	// maxCode[l] is the largest code of length l, or -1 if there is none;
	// valOff[l] turns a code of length l into an index into vals.
	maxCode [17]int32
	valOff  [17]int32
	vals    [256]uint8
	// fastAC, for AC tables, maps the next lutBits bits to
	// value<<16 | run<<8 | total length when they hold a whole non-zero
	// coefficient (code and extra bits), else 0.
	fastAC  [1 << lutBits]int32
	defined bool
}

// build fills t from the counts (codes per length 1..16) and symbols of a DHT
// segment, rejecting tables whose codes overflow their lengths.
func (t *huffTable) build(counts *[16]uint8, symbols []uint8) error {
	*t = huffTable{}
	copy(t.vals[:], symbols)
	code, k := int32(0), int32(0)
	for l := 1; l <= 16; l++ {
		n := int32(counts[l-1])
		t.maxCode[l] = -1
		if n > 0 {
			t.valOff[l] = k - code
			code += n
			k += n
			if code > 1<<l {
				return errorf("bad Huffman table")
			}
			t.maxCode[l] = code - 1
			if l <= lutBits {
				for c := code - n; c < code; c++ {
					sym := t.vals[t.valOff[l]+c]
					shift := lutBits - l
					base := c << shift
					for j := int32(0); j < 1<<shift; j++ {
						t.lut[base+j] = uint16(l)<<8 | uint16(sym)
					}
				}
			}
		}
		code <<= 1
	}
	for p := range t.fastAC {
		e := t.lut[p]
		l, rs := int(e>>8), uint8(e)
		r, sz := int(rs>>4), int(rs&15)
		if e == 0 || sz == 0 || l+sz > lutBits {
			continue
		}
		v := int32(p>>(lutBits-l-sz)) & (1<<sz - 1)
		if v < 1<<(sz-1) {
			v += -1<<sz + 1
		}
		t.fastAC[p] = v<<16 | int32(r)<<8 | int32(l+sz)
	}
	t.defined = true
	return nil
}

// bitReader reads entropy-coded bits, removing the 0xFF00 byte stuffing.
// Bits are kept MSB-first in acc; n of them are valid.
type bitReader struct {
	data []byte
	pos  int
	acc  uint64
	n    uint
	// fake counts the zero bits appended to acc because a marker or the end
	// of the data was reached, as libjpeg does; eof marks the latter.
	fake uint
	eof  bool
}

func (br *bitReader) reset(data []byte, pos int) {
	*br = bitReader{data: data, pos: pos}
}

// fill tops acc up to at least 57 valid bits.
func (br *bitReader) fill() {
	data, pos := br.data, br.pos
	// Fast path: the next 8 bytes hold no 0xFF, so whole bytes can be
	// taken without unstuffing.
	if br.n <= 56 && pos+8 <= len(data) && br.fake == 0 {
		v := binary.BigEndian.Uint64(data[pos:])
		// A byte of v is 0xFF iff the same byte of ^v is zero.
		x := ^v
		if (x-0x0101010101010101)&^x&0x8080808080808080 == 0 {
			k := (64 - br.n) / 8 // whole bytes that fit
			br.acc |= v >> (64 - 8*k) << (64 - 8*k - br.n)
			br.n += 8 * k
			br.pos = pos + int(k)
			return
		}
	}
	for br.n <= 56 {
		if pos >= len(data) {
			br.eof = true
			br.n += 8
			br.fake += 8
			continue
		}
		b := data[pos]
		if b == 0xFF {
			if pos+1 >= len(data) {
				br.eof = true
				br.n += 8
				br.fake += 8
				continue
			}
			if data[pos+1] == 0 {
				pos += 2
			} else {
				// A marker: leave it for the caller and feed zeros.
				br.n += 8
				br.fake += 8
				continue
			}
		} else {
			pos++
		}
		br.acc |= uint64(b) << (56 - br.n)
		br.n += 8
	}
	br.pos = pos
}

// overrun reports whether more bits were consumed than the data held before
// its end; bits fed in place of a marker are allowed, as libjpeg allows them.
func (br *bitReader) overrun() bool {
	return br.eof && br.fake > br.n
}

// decodeHuff reads one Huffman symbol. acc must hold at least 16 bits.
func (br *bitReader) decodeHuff(t *huffTable) (uint8, bool) {
	e := t.lut[br.acc>>(64-lutBits)]
	if e != 0 {
		l := uint(e >> 8)
		br.acc <<= l
		br.n -= l
		return uint8(e), true
	}
	return br.decodeHuffSlow(t)
}

// decodeHuffSlow decodes a code longer than lutBits.
func (br *bitReader) decodeHuffSlow(t *huffTable) (uint8, bool) {
	for l := uint(lutBits + 1); l <= 16; l++ {
		code := int32(br.acc >> (64 - l))
		if code <= t.maxCode[l] {
			br.acc <<= l
			br.n -= l
			return t.vals[(t.valOff[l]+code)&255], true
		}
	}
	return 0, false
}

// receiveExtend reads s (1..16) bits and sign-extends them as in the JPEG
// spec's EXTEND procedure. acc must hold at least s bits.
func (br *bitReader) receiveExtend(s uint8) int32 {
	v := int32(br.acc >> (64 - uint(s)))
	br.acc <<= s
	br.n -= uint(s)
	if v < 1<<(s-1) {
		v += -1<<s + 1
	}
	return v
}

// bits reads s (0..16) bits as an unsigned number.
func (br *bitReader) bits(s uint8) int32 {
	if s == 0 {
		return 0
	}
	if br.n < uint(s) {
		br.fill()
	}
	v := int32(br.acc >> (64 - uint(s)))
	br.acc <<= s
	br.n -= uint(s)
	return v
}

func (br *bitReader) bit() bool {
	if br.n == 0 {
		br.fill()
	}
	b := br.acc>>63 != 0
	br.acc <<= 1
	br.n--
	return b
}
