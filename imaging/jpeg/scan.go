package jpeg

// scan holds the parameters of the scan being decoded.
type scan struct {
	comps  [4]*component
	n      int
	ss, se int
	ah, al uint
}

// decodeScan parses an SOS header and decodes its entropy-coded data, which
// starts at pos; it returns the position just past that data.
func (d *Decoder) decodeScan(seg []byte, pos int) (int, error) {
	if len(seg) < 1 {
		return 0, errorf("short SOS segment")
	}
	var s scan
	s.n = int(seg[0])
	if s.n < 1 || s.n > len(d.comps) || len(seg) != 4+2*s.n {
		return 0, errorf("bad SOS segment")
	}
	for i := 0; i < s.n; i++ {
		id, t := seg[1+2*i], seg[2+2*i]
		var c *component
		for j := range d.comps {
			if d.comps[j].id == id {
				c = &d.comps[j]
			}
		}
		if c == nil {
			return 0, errorf("scan names unknown component %d", id)
		}
		for j := 0; j < i; j++ {
			if s.comps[j] == c {
				return 0, errorf("scan names component %d twice", id)
			}
		}
		c.td, c.ta = int(t>>4), int(t&15)
		if c.td > 3 || c.ta > 3 {
			return 0, errorf("bad Huffman table selector")
		}
		if !d.quantOK[c.tq] {
			return 0, errorf("missing quantisation table %d", c.tq)
		}
		s.comps[i] = c
	}
	p := seg[1+2*s.n:]
	s.ss, s.se = int(p[0]), int(p[1])
	s.ah, s.al = uint(p[2]>>4), uint(p[2]&15)
	if d.progressive {
		if s.ss > s.se || s.se > 63 || s.al > 13 || s.ah > 13 ||
			(s.ss == 0) != (s.se == 0) || (s.ss > 0 && s.n != 1) {
			return 0, errorf("bad progressive scan parameters")
		}
	} else {
		s.ss, s.se, s.ah, s.al = 0, 63, 0, 0
	}
	blocksPerMCU := 0
	for i := 0; i < s.n; i++ {
		blocksPerMCU += s.comps[i].h * s.comps[i].v
	}
	if s.n > 1 && blocksPerMCU > 10 {
		return 0, errorf("too many blocks per MCU")
	}
	// Check the tables this scan needs exist.
	for i := 0; i < s.n; i++ {
		c := s.comps[i]
		needDC := s.ss == 0 && s.ah == 0
		needAC := s.se > 0
		if needDC && !d.dcTab[c.td].defined {
			return 0, errorf("missing DC Huffman table %d", c.td)
		}
		if needAC && !d.acTab[c.ta].defined {
			return 0, errorf("missing AC Huffman table %d", c.ta)
		}
		c.dcPred = 0
		c.scanned = true
	}
	d.eobrun = 0
	d.br.reset(d.data, pos)

	// MCU geometry: interleaved scans walk whole MCUs; a single-component
	// scan walks that component's own blocks, one per MCU.
	mcusX, mcusY := d.mcusX, d.mcusY
	if s.n == 1 {
		c := s.comps[0]
		mcusX = (c.w + 7) / 8
		mcusY = (c.h2 + 7) / 8
	}
	var blk [64]int32
	mcu := 0
	for my := 0; my < mcusY; my++ {
		for mx := 0; mx < mcusX; mx++ {
			if d.restart > 0 && mcu > 0 && mcu%d.restart == 0 {
				if err := d.processRestart(); err != nil {
					return 0, err
				}
			}
			mcu++
			for i := 0; i < s.n; i++ {
				c := s.comps[i]
				bh, bv := c.h, c.v
				if s.n == 1 {
					bh, bv = 1, 1
				}
				for v := 0; v < bv; v++ {
					for h := 0; h < bh; h++ {
						bx, by := mx*bh+h, my*bv+v
						var err error
						if !d.progressive {
							err = d.decodeBlockBaseline(c, &blk, bx, by)
						} else {
							coef := (*[64]int16)(c.coefs[(by*c.bw+bx)*64:])
							switch {
							case s.ss == 0 && s.ah == 0:
								err = d.decodeDCFirst(c, coef, s.al)
							case s.ss == 0:
								d.decodeDCRefine(coef, s.al)
							case s.ah == 0:
								err = d.decodeACFirst(c, coef, s.ss, s.se, s.al)
							default:
								err = d.decodeACRefine(c, coef, s.ss, s.se, s.al)
							}
						}
						if err != nil {
							return 0, err
						}
					}
				}
			}
			if d.br.overrun() {
				return 0, errorf("truncated entropy-coded data")
			}
		}
	}
	return d.br.pos, nil
}

// processRestart discards the partial byte, expects an RSTn marker and
// resets the predictors, as at the start of a scan.
func (d *Decoder) processRestart() error {
	data, pos := d.data, d.br.pos
	for pos+1 < len(data) && !(data[pos] == 0xFF && data[pos+1] != 0 && data[pos+1] != 0xFF) {
		pos++
	}
	if pos+1 >= len(data) {
		return errorf("truncated entropy-coded data")
	}
	if m := data[pos+1]; m < rst0 || m > rst7 {
		return errorf("missing restart marker")
	}
	d.br.reset(data, pos+2)
	for i := range d.comps {
		d.comps[i].dcPred = 0
	}
	d.eobrun = 0
	return nil
}

// decodeBlockBaseline decodes one sequential-mode block and writes its
// samples to the component plane.
func (d *Decoder) decodeBlockBaseline(c *component, blk *[64]int32, bx, by int) error {
	br := &d.br
	dcT, acT := &d.dcTab[c.td], &d.acTab[c.ta]
	q := &d.quant[c.tq]
	if br.n < 32 {
		br.fill()
	}
	t, ok := br.decodeHuff(dcT)
	if !ok {
		return errorf("bad Huffman code")
	}
	var diff int32
	if t != 0 {
		if t > 16 {
			return errorf("bad DC coefficient size")
		}
		if br.n < uint(t) {
			br.fill()
		}
		diff = br.receiveExtend(t)
	}
	c.dcPred += diff
	blk[0] = c.dcPred * q[0]
	last := 0
	for k := 1; k < 64; k++ {
		if br.n < 32 {
			br.fill()
		}
		if fa := acT.fastAC[br.acc>>(64-lutBits)]; fa != 0 {
			l := uint(fa & 255)
			br.acc <<= l
			br.n -= l
			k += int(fa>>8) & 15
			z := unzig[k&127]
			blk[z] = (fa >> 16) * q[z]
			last = k
			continue
		}
		var sym uint8
		if e := acT.lut[br.acc>>(64-lutBits)]; e != 0 {
			l := uint(e >> 8)
			br.acc <<= l
			br.n -= l
			sym = uint8(e)
		} else {
			var ok bool
			if sym, ok = br.decodeHuffSlow(acT); !ok {
				return errorf("bad Huffman code")
			}
		}
		r, s := int(sym>>4), sym&15
		if s == 0 {
			if r != 15 {
				break
			}
			k += 15
			continue
		}
		k += r
		z := unzig[k&127]
		blk[z] = br.receiveExtend(s) * q[z]
		last = k
	}
	stride := c.bw * 8
	dst := c.plane[by*8*stride+bx*8:]
	if last == 0 {
		idctDC(blk[0], dst, stride)
		blk[0] = 0
	} else {
		idctZero(blk, dst, stride) // also clears blk for the next block
	}
	return nil
}

func (d *Decoder) decodeDCFirst(c *component, coef *[64]int16, al uint) error {
	br := &d.br
	if br.n < 32 {
		br.fill()
	}
	t, ok := br.decodeHuff(&d.dcTab[c.td])
	if !ok {
		return errorf("bad Huffman code")
	}
	var diff int32
	if t != 0 {
		if t > 16 {
			return errorf("bad DC coefficient size")
		}
		diff = br.receiveExtend(t)
	}
	c.dcPred += diff
	coef[0] = int16(c.dcPred << al)
	return nil
}

func (d *Decoder) decodeDCRefine(coef *[64]int16, al uint) {
	if d.br.bit() {
		coef[0] |= 1 << al
	}
}

func (d *Decoder) decodeACFirst(c *component, coef *[64]int16, ss, se int, al uint) error {
	if d.eobrun > 0 {
		d.eobrun--
		return nil
	}
	br := &d.br
	t := &d.acTab[c.ta]
	for k := ss; k <= se; k++ {
		if br.n < 32 {
			br.fill()
		}
		sym, ok := br.decodeHuff(t)
		if !ok {
			return errorf("bad Huffman code")
		}
		r, s := int(sym>>4), sym&15
		if s != 0 {
			k += r
			if k > 63 {
				return errorf("AC coefficient index out of range")
			}
			coef[unzig[k]] = int16(br.receiveExtend(s) << al)
			continue
		}
		if r != 15 {
			d.eobrun = 1 << r
			if r > 0 {
				d.eobrun += br.bits(uint8(r))
			}
			d.eobrun--
			break
		}
		k += 15
	}
	return nil
}

func (d *Decoder) decodeACRefine(c *component, coef *[64]int16, ss, se int, al uint) error {
	br := &d.br
	t := &d.acTab[c.ta]
	p1 := int16(1) << al
	m1 := int16(-1) << al
	k := ss
	if d.eobrun == 0 {
		for ; k <= se; k++ {
			if br.n < 32 {
				br.fill()
			}
			var sym uint8
			if e := t.lut[br.acc>>(64-lutBits)]; e != 0 {
				l := uint(e >> 8)
				br.acc <<= l
				br.n -= l
				sym = uint8(e)
			} else {
				var ok bool
				if sym, ok = br.decodeHuffSlow(t); !ok {
					return errorf("bad Huffman code")
				}
			}
			r, s := int(sym>>4), sym&15
			var z int16
			if s != 0 {
				// s must be 1 here; libjpeg warns and goes on otherwise.
				if br.bit() {
					z = p1
				} else {
					z = m1
				}
			} else if r != 15 {
				d.eobrun = 1 << r
				if r > 0 {
					d.eobrun += br.bits(uint8(r))
				}
				break
			}
			for ; k <= se; k++ {
				cf := &coef[unzig[k]]
				if *cf != 0 {
					if br.n == 0 {
						br.fill()
					}
					b := br.acc >> 63
					br.acc <<= 1
					br.n--
					if b != 0 && *cf&p1 == 0 {
						if *cf >= 0 {
							*cf += p1
						} else {
							*cf += m1
						}
					}
				} else {
					if r == 0 {
						break
					}
					r--
				}
			}
			if z != 0 && k <= se {
				coef[unzig[k]] = z
			}
		}
	}
	if d.eobrun > 0 {
		for ; k <= se; k++ {
			cf := &coef[unzig[k]]
			if *cf != 0 {
				if br.n == 0 {
					br.fill()
				}
				b := br.acc >> 63
				br.acc <<= 1
				br.n--
				if b != 0 && *cf&p1 == 0 {
					if *cf >= 0 {
						*cf += p1
					} else {
						*cf += m1
					}
				}
			}
		}
		d.eobrun--
	}
	return nil
}

// finishProgressive dequantizes and inverse-transforms every block of a
// progressive image into the component planes.
func (d *Decoder) finishProgressive() {
	var blk [64]int32
	for i := range d.comps {
		c := &d.comps[i]
		q := &d.quant[c.tq]
		stride := c.bw * 8
		for by := 0; by < c.bh; by++ {
			for bx := 0; bx < c.bw; bx++ {
				coef := (*[64]int16)(c.coefs[(by*c.bw+bx)*64:])
				for k := range blk {
					blk[k] = int32(coef[k]) * q[k]
				}
				idctZero(&blk, c.plane[by*8*stride+bx*8:], stride)
			}
		}
	}
}
