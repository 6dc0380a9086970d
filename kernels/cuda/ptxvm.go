package cuda

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// ptxvm interprets the subset of PTX that plp's kernels use, thread by thread, so the kernels can be tested
// on machines without a GPU (see NewEmulator). It models registers, the param, global and shared state
// spaces, bar.sync and shfl.sync.bfly; it does not model timing, caches or memory races.

type vmOperand struct {
	kind int // opReg, opImm, opSpecial, opSym, opMem
	reg  int
	imm  uint64
	name string // special register or symbol
	off  int64  // for opMem
}

const (
	opReg = iota
	opImm
	opSpecial
	opSym
	opMem
)

type vmInstr struct {
	pred    int // register index, -1 when unpredicated
	predNeg bool
	op      string   // e.g. "mad"
	mods    []string // e.g. ["lo", "u32"]
	args    []vmOperand
	target  int    // branch target pc
	typ     string // last modifier, the operand type
	text    string
}

type vmParam struct {
	name        string
	off, size   int
	align       int
	isArrayArgs bool
}

type vmKernel struct {
	name      string
	params    []vmParam
	paramSize int
	shared    map[string]int // shared symbol -> byte offset
	sharedLen int
	nregs     int
	code      []vmInstr
}

// parsePTX extracts every .entry of src.
func parsePTX(src string) (map[string]*vmKernel, error) {
	var b strings.Builder
	for _, line := range strings.Split(src, "\n") {
		if i := strings.Index(line, "//"); i >= 0 {
			line = line[:i]
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	s := b.String()
	out := map[string]*vmKernel{}
	for {
		i := strings.Index(s, ".entry ")
		if i < 0 {
			return out, nil
		}
		s = s[i+len(".entry "):]
		open := strings.Index(s, "(")
		close := strings.Index(s, ")")
		body0 := strings.Index(s, "{")
		if open < 0 || close < open || body0 < close {
			return nil, fmt.Errorf("ptxvm: malformed entry")
		}
		k := &vmKernel{name: strings.TrimSpace(s[:open]), shared: map[string]int{}}
		for _, p := range strings.Split(s[open+1:close], ",") {
			if err := k.addParam(strings.Fields(p)); err != nil {
				return nil, err
			}
		}
		end := strings.Index(s[body0:], "\n}")
		if end < 0 {
			return nil, fmt.Errorf("ptxvm: %s: no closing brace", k.name)
		}
		if err := k.parseBody(s[body0+1 : body0+end]); err != nil {
			return nil, fmt.Errorf("ptxvm: %s: %v", k.name, err)
		}
		out[k.name] = k
		s = s[body0+end:]
	}
}

func (k *vmKernel) addParam(f []string) error {
	// .param .u64 name | .param .align 4 .b8 name[48]
	if len(f) < 3 || f[0] != ".param" {
		return fmt.Errorf("ptxvm: %s: param %v", k.name, f)
	}
	p := vmParam{}
	switch {
	case f[1] == ".align" && len(f) == 5:
		a, _ := strconv.Atoi(f[2])
		lb := strings.Index(f[4], "[")
		n, err := strconv.Atoi(strings.TrimSuffix(f[4][lb+1:], "]"))
		if err != nil || lb < 0 {
			return fmt.Errorf("ptxvm: %s: param %v", k.name, f)
		}
		p = vmParam{name: f[4][:lb], size: n, align: a, isArrayArgs: true}
	case len(f) == 3:
		size := 4
		if strings.HasSuffix(f[1], "64") {
			size = 8
		}
		p = vmParam{name: f[2], size: size, align: size}
	default:
		return fmt.Errorf("ptxvm: %s: param %v", k.name, f)
	}
	k.paramSize = (k.paramSize + p.align - 1) / p.align * p.align
	p.off = k.paramSize
	k.paramSize += p.size
	k.params = append(k.params, p)
	return nil
}

func (k *vmKernel) parseBody(body string) error {
	regs := map[string]int{}
	labels := map[string]int{}
	type pending struct {
		pc    int
		label string
	}
	var fix []pending
	reg := func(name string) int {
		if i, ok := regs[name]; ok {
			return i
		}
		regs[name] = len(regs)
		return regs[name]
	}
	for _, raw := range strings.Split(body, ";") {
		st := strings.TrimSpace(raw)
		// Labels precede statements on their own lines.
		for {
			nl := strings.Index(st, ":")
			if nl < 0 || strings.ContainsAny(st[:nl], " \t\n,[") {
				break
			}
			labels[strings.TrimSpace(st[:nl])] = len(k.code)
			st = strings.TrimSpace(st[nl+1:])
		}
		if st == "" {
			continue
		}
		if strings.HasPrefix(st, ".reg") {
			continue
		}
		if strings.HasPrefix(st, ".shared") {
			f := strings.Fields(st)
			decl := f[len(f)-1]
			lb := strings.Index(decl, "[")
			n, _ := strconv.Atoi(strings.TrimSuffix(decl[lb+1:], "]"))
			k.sharedLen = (k.sharedLen + 7) / 8 * 8
			k.shared[decl[:lb]] = k.sharedLen
			k.sharedLen += 4 * n
			continue
		}
		in := vmInstr{pred: -1, text: st}
		if st[0] == '@' {
			sp := strings.IndexAny(st, " \t")
			p := st[1:sp]
			if p[0] == '!' {
				in.predNeg = true
				p = p[1:]
			}
			in.pred = reg(p)
			st = strings.TrimSpace(st[sp:])
		}
		sp := strings.IndexAny(st, " \t")
		opcode, rest := st, ""
		if sp >= 0 {
			opcode, rest = st[:sp], strings.TrimSpace(st[sp:])
		}
		parts := strings.Split(opcode, ".")
		in.op, in.mods = parts[0], parts[1:]
		if len(in.mods) > 0 {
			in.typ = in.mods[len(in.mods)-1]
		}
		if in.op == "bra" {
			fix = append(fix, pending{len(k.code), rest})
			k.code = append(k.code, in)
			continue
		}
		if rest != "" {
			for _, a := range strings.Split(rest, ",") {
				o, err := parseOperand(strings.TrimSpace(a), reg)
				if err != nil {
					return fmt.Errorf("%q: %v", st, err)
				}
				in.args = append(in.args, o)
			}
		}
		k.code = append(k.code, in)
	}
	for _, f := range fix {
		t, ok := labels[f.label]
		if !ok {
			return fmt.Errorf("undefined label %s", f.label)
		}
		k.code[f.pc].target = t
	}
	k.nregs = len(regs)
	return nil
}

func parseOperand(a string, reg func(string) int) (vmOperand, error) {
	switch {
	case strings.HasPrefix(a, "["):
		inner := strings.TrimSuffix(strings.TrimPrefix(a, "["), "]")
		var off int64
		if i := strings.IndexAny(inner, "+"); i >= 0 {
			v, err := strconv.ParseInt(inner[i+1:], 10, 64)
			if err != nil {
				return vmOperand{}, err
			}
			off, inner = v, inner[:i]
		}
		base, err := parseOperand(inner, reg)
		if err != nil {
			return vmOperand{}, err
		}
		base.kind, base.off = opMem*10+base.kind, off
		return base, nil
	case strings.HasPrefix(a, "%tid.") || strings.HasPrefix(a, "%ntid.") || strings.HasPrefix(a, "%ctaid.") || strings.HasPrefix(a, "%nctaid."):
		return vmOperand{kind: opSpecial, name: a}, nil
	case strings.HasPrefix(a, "%"):
		return vmOperand{kind: opReg, reg: reg(a)}, nil
	case strings.HasPrefix(a, "0f"):
		v, err := strconv.ParseUint(a[2:], 16, 32)
		return vmOperand{kind: opImm, imm: v}, err
	case strings.HasPrefix(a, "0d"):
		v, err := strconv.ParseUint(a[2:], 16, 64)
		return vmOperand{kind: opImm, imm: v}, err
	case a[0] == '-' || (a[0] >= '0' && a[0] <= '9'):
		v, err := strconv.ParseInt(a, 10, 64)
		return vmOperand{kind: opImm, imm: uint64(v)}, err
	default:
		return vmOperand{kind: opSym, name: a}, nil
	}
}

// vmMemory is the emulated device: one growing arena addressed from vmBase.
type vmMemory struct {
	arena []byte
}

const vmBase = 1 << 32

func (m *vmMemory) bytes(addr uint64, n int) []byte {
	if addr < vmBase || addr-vmBase+uint64(n) > uint64(len(m.arena)) {
		panic(fmt.Sprintf("ptxvm: access of %d bytes at %#x outside device memory", n, addr))
	}
	o := addr - vmBase
	return m.arena[o : o+uint64(n)]
}

type vmThread struct {
	regs       []uint64
	pc         int
	done       bool
	wait       int // 1 bar.sync, 2 shfl, 3 bar.warp.sync
	shflIdx    bool
	tid        [3]int
	shflDst    int
	shflVal    uint64
	shflLane   uint64
	shflResult uint64
}

type vmLaunch struct {
	k      *vmKernel
	mem    *vmMemory
	param  []byte
	shared []byte
	grid   [3]int
	block  [3]int
	ctaid  [3]int
}

// run executes the kernel over the whole grid.
func (k *vmKernel) run(mem *vmMemory, param []byte, grid, block [3]int) error {
	// Blocks are independent (plp's kernels share nothing across blocks), so workers take them in turn.
	nblocks := grid[0] * grid[1] * grid[2]
	workers := min(runtime.GOMAXPROCS(0), nblocks)
	var next atomic.Int64
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if r := recover(); r != nil {
					errs[w] = fmt.Errorf("%s: %v", k.name, r)
				}
			}()
			l := &vmLaunch{k: k, mem: mem, param: param, grid: grid, block: block}
			n := block[0] * block[1] * block[2]
			threads := make([]*vmThread, n)
			for {
				b := int(next.Add(1)) - 1
				if b >= nblocks {
					return
				}
				l.ctaid = [3]int{b % grid[0], b / grid[0] % grid[1], b / (grid[0] * grid[1])}
				l.shared = make([]byte, k.sharedLen)
				for i := range threads {
					threads[i] = &vmThread{regs: make([]uint64, k.nregs),
						tid: [3]int{i % block[0], i / block[0] % block[1], i / (block[0] * block[1])}}
				}
				if err := l.block1(threads); err != nil {
					errs[w] = fmt.Errorf("%s: %v", k.name, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (l *vmLaunch) block1(ts []*vmThread) error {
	for {
		live, atBar := 0, 0
		for _, t := range ts {
			if !t.done && t.wait == 0 {
				l.exec(t)
			}
		}
		for w := 0; w < len(ts); w += 32 {
			warp := ts[w:min(w+32, len(ts))]
			n, at, atWarpBar := 0, 0, 0
			for _, t := range warp {
				if !t.done {
					n++
					switch t.wait {
					case 2:
						at++
					case 3:
						atWarpBar++
					}
				}
			}
			if n > 0 && atWarpBar == n {
				for _, t := range warp {
					t.wait = 0
				}
				continue
			}
			if n == 0 || at != n {
				continue
			}
			for lane, t := range warp {
				src := lane ^ int(t.shflLane)
				if t.shflIdx {
					src = int(t.shflLane) & 31
				}
				v := t.shflVal
				if src < len(warp) && !warp[src].done {
					v = warp[src].shflVal
				}
				t.shflResult = v
			}
			for _, t := range warp {
				t.regs[t.shflDst] = t.shflResult
				t.wait = 0
			}
		}
		for _, t := range ts {
			if !t.done {
				live++
				if t.wait == 1 {
					atBar++
				}
			}
		}
		if live == 0 {
			return nil
		}
		if atBar == live {
			for _, t := range ts {
				t.wait = 0
			}
			continue
		}
		stuck := true
		for _, t := range ts {
			if !t.done && t.wait == 0 {
				stuck = false
			}
		}
		if stuck {
			// Only warps with every live lane at a shuffle resolve; anything else is divergence PTX forbids.
			pending := 0
			for _, t := range ts {
				if !t.done && t.wait == 2 {
					pending++
				}
			}
			if pending > 0 && pending+atBar == live {
				for w := 0; w < len(ts); w += 32 {
					for _, t := range ts[w:min(w+32, len(ts))] {
						if !t.done && t.wait == 2 {
							return fmt.Errorf("shfl.sync with a partial warp")
						}
					}
				}
			}
			return fmt.Errorf("deadlock: %d live threads, %d at bar.sync", live, atBar)
		}
	}
}

func (l *vmLaunch) special(t *vmThread, name string) uint64 {
	d := int(name[len(name)-1] - 'x') // x, y, z
	switch {
	case strings.HasPrefix(name, "%tid."):
		return uint64(t.tid[d])
	case strings.HasPrefix(name, "%ntid."):
		return uint64(l.block[d])
	case strings.HasPrefix(name, "%ctaid."):
		return uint64(l.ctaid[d])
	default:
		return uint64(l.grid[d])
	}
}

func (l *vmLaunch) val(t *vmThread, o vmOperand) uint64 {
	switch o.kind {
	case opReg:
		return t.regs[o.reg]
	case opImm:
		return o.imm
	case opSpecial:
		return l.special(t, o.name)
	case opSym:
		if off, ok := l.k.shared[o.name]; ok {
			return uint64(off)
		}
		panic("address of symbol " + o.name)
	}
	panic("operand kind")
}

// addr resolves a memory operand to a byte slice of n bytes in space.
func (l *vmLaunch) addr(t *vmThread, o vmOperand, space string, n int) []byte {
	var base uint64
	switch o.kind - opMem*10 {
	case opReg:
		base = t.regs[o.reg]
	case opSym:
		switch space {
		case "param":
			for _, p := range l.k.params {
				if p.name == o.name {
					base = uint64(p.off)
				}
			}
		case "shared":
			base = uint64(l.k.shared[o.name])
		default:
			panic("global symbol " + o.name)
		}
	default:
		panic("address operand")
	}
	a := base + uint64(o.off)
	switch space {
	case "param":
		return l.param[a : a+uint64(n)]
	case "shared":
		return l.shared[a : a+uint64(n)]
	case "global":
		return l.mem.bytes(a, n)
	}
	panic("state space " + space)
}

func f32(v uint64) float32  { return math.Float32frombits(uint32(v)) }
func f64(v uint64) float64  { return math.Float64frombits(v) }
func bf32(f float32) uint64 { return uint64(math.Float32bits(f)) }
func bf64(f float64) uint64 { return math.Float64bits(f) }

func le(b []byte) uint64 {
	var v uint64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

func putLE(b []byte, v uint64) {
	for i := range b {
		b[i] = byte(v >> (8 * i))
	}
}

func size(typ string) int {
	if strings.HasSuffix(typ, "64") {
		return 8
	}
	return 4
}

// exec runs t until it exits or waits at a barrier or shuffle.
func (l *vmLaunch) exec(t *vmThread) {
	code := l.k.code
	for !t.done && t.wait == 0 {
		if t.pc >= len(code) {
			t.done = true
			return
		}
		in := &code[t.pc]
		t.pc++
		if in.pred >= 0 && (t.regs[in.pred] != 0) == in.predNeg {
			continue
		}
		l.step(t, in)
	}
}

func (l *vmLaunch) step(t *vmThread, in *vmInstr) {
	a := in.args
	v := func(i int) uint64 { return l.val(t, a[i]) }
	set := func(x uint64) { t.regs[a[0].reg] = x }
	typ := in.typ
	switch in.op {
	case "ret":
		t.done = true
	case "bra":
		t.pc = in.target
	case "bar":
		t.wait = 1
		if in.mods[0] == "warp" {
			t.wait = 3
		}
	case "shfl":
		t.shflDst, t.shflVal, t.shflLane, t.wait = a[0].reg, v(1), v(2), 2
		t.shflIdx = in.mods[1] == "idx"
	case "mov", "cvta":
		set(v(1))
	case "ld", "st":
		space := in.mods[0]
		n := size(typ)
		if in.op == "ld" {
			set(le(l.addr(t, a[1], space, n)))
		} else {
			putLE(l.addr(t, a[0], space, n), v(1))
		}
	case "setp":
		set(b2u(compare(in.mods[0], typ, v(1), v(2))))
	case "selp":
		if t.regs[a[3].reg] != 0 {
			set(v(1))
		} else {
			set(v(2))
		}
	case "and":
		set(v(1) & v(2))
	case "or":
		set(v(1) | v(2))
	case "shr":
		set(uint64(uint32(v(1)) >> v(2)))
	case "shl":
		set(v(1) << v(2))
	case "cvt":
		set(convert(in.mods, v(1)))
	case "ex2":
		set(bf32(float32(math.Exp2(float64(f32(v(1)))))))
	case "rcp":
		set(bf32(1 / f32(v(1))))
	case "sqrt":
		set(bf32(float32(math.Sqrt(float64(f32(v(1)))))))
	case "abs":
		set(bf32(float32(math.Abs(float64(f32(v(1)))))))
	case "neg":
		set(bf32(-f32(v(1))))
	case "fma":
		if typ == "f64" {
			set(bf64(math.FMA(f64(v(1)), f64(v(2)), f64(v(3)))))
		} else {
			set(bf32(float32(math.FMA(float64(f32(v(1))), float64(f32(v(2))), float64(f32(v(3)))))))
		}
	case "mad":
		set(uint64(uint32(v(1))*uint32(v(2)) + uint32(v(3))))
	default:
		set(arith(in.op, in.mods, typ, v(1), v(2)))
	}
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func compare(cmp, typ string, x, y uint64) bool {
	var c int
	switch typ {
	case "f32":
		a, b := f32(x), f32(y)
		if a != a || b != b {
			return cmp == "ne"
		}
		c = cmpOrd(a < b, a > b)
	case "f64":
		a, b := f64(x), f64(y)
		c = cmpOrd(a < b, a > b)
	case "s32":
		c = cmpOrd(int32(x) < int32(y), int32(x) > int32(y))
	case "u32":
		c = cmpOrd(uint32(x) < uint32(y), uint32(x) > uint32(y))
	default:
		c = cmpOrd(x < y, x > y)
	}
	switch cmp {
	case "eq":
		return c == 0
	case "ne":
		return c != 0
	case "lt":
		return c < 0
	case "le":
		return c <= 0
	case "gt":
		return c > 0
	case "ge":
		return c >= 0
	}
	panic("setp." + cmp)
}

func cmpOrd(lt, gt bool) int {
	switch {
	case lt:
		return -1
	case gt:
		return 1
	}
	return 0
}

func convert(mods []string, x uint64) uint64 {
	dst, src := mods[len(mods)-2], mods[len(mods)-1]
	var f float64
	switch src {
	case "f32":
		f = float64(f32(x))
	case "f64":
		f = f64(x)
	case "u32":
		f = float64(uint32(x))
	default:
		panic("cvt from " + src)
	}
	switch dst {
	case "f32":
		return bf32(float32(f))
	case "f64":
		return bf64(f)
	}
	panic("cvt to " + dst)
}

func arith(op string, mods []string, typ string, x, y uint64) uint64 {
	if len(mods) == 2 && mods[0] == "wide" {
		return uint64(uint32(x)) * uint64(uint32(y))
	}
	switch typ {
	case "f32":
		a, b := f32(x), f32(y)
		switch op {
		case "add":
			return bf32(a + b)
		case "sub":
			return bf32(a - b)
		case "mul":
			return bf32(a * b)
		case "div":
			return bf32(a / b)
		case "max":
			return bf32(float32(math.Max(float64(a), float64(b))))
		case "min":
			return bf32(float32(math.Min(float64(a), float64(b))))
		}
	case "f64":
		a, b := f64(x), f64(y)
		switch op {
		case "add":
			return bf64(a + b)
		case "sub":
			return bf64(a - b)
		case "mul":
			return bf64(a * b)
		case "div":
			return bf64(a / b)
		case "max":
			return bf64(math.Max(a, b))
		}
	case "u32", "s32":
		a, b := uint32(x), uint32(y)
		switch op {
		case "add":
			return uint64(a + b)
		case "sub":
			return uint64(a - b)
		case "mul":
			return uint64(a * b)
		case "div":
			return uint64(a / b)
		case "rem":
			return uint64(a % b)
		case "min":
			return uint64(min(a, b))
		case "max":
			return uint64(max(a, b))
		}
	case "u64", "s64":
		switch op {
		case "add":
			return x + y
		case "sub":
			return x - y
		case "mul":
			return x * y
		}
	}
	panic(fmt.Sprintf("ptxvm: %s.%s", op, strings.Join(mods, ".")))
}
