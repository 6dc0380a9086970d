package weights

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"unicode/utf8"
)

// The pickle reader is a stack machine for Python's pickle protocols 2-5 that never executes code: GLOBAL
// and STACK_GLOBAL resolve only the exact (module, name) pairs of the allow-list in pickle_globals.go, and
// REDUCE, NEWOBJ and BUILD act only on those, each with a Go implementation that builds inert data.
//
// Python values map to Go values as follows: None → nil, bool → bool, int → int64 (or *big.Int beyond 64
// bits), float → float64, str → string, bytes → []byte, list → *pyList, tuple → pyTuple, dict and
// OrderedDict → *pyDict, set/frozenset → *pyList, instances of allowed classes → *pyObject, tensors and
// numpy arrays → *tensorView.

// Limits that keep hostile pickles bounded; checkpoints stay far below them.
const (
	maxPickleStack = 1 << 14 // values on the stack
	maxPickleMarks = 1 << 12 // open MARKs
	maxNestDepth   = 1000    // container nesting seen by walkers
)

type pyList struct{ items []any }

type pyTuple []any

// pyDict keeps insertion order, as both dict (3.7+) and OrderedDict do.
type pyDict struct {
	keys, vals []any
	index      map[any]int
	ordered    bool     // collections.OrderedDict
	attrs      []string // attribute names set by BUILD (OrderedDict._metadata); their values are dropped
}

func newDict() *pyDict { return &pyDict{index: map[any]int{}} }

func (d *pyDict) set(k, v any) error {
	hk, err := hashKey(k, 0)
	if err != nil {
		return err
	}
	if i, ok := d.index[hk]; ok {
		d.vals[i] = v
		return nil
	}
	d.index[hk] = len(d.keys)
	d.keys = append(d.keys, k)
	d.vals = append(d.vals, v)
	return nil
}

func (d *pyDict) get(k string) (any, bool) {
	i, ok := d.index[k]
	if !ok {
		return nil, false
	}
	return d.vals[i], true
}

// hashKey maps a Python dict key to a comparable Go value; unhashable keys (lists, dicts) are an error,
// as they are in Python.
func hashKey(k any, depth int) (any, error) {
	switch k := k.(type) {
	case nil, bool, int64, float64, string:
		return k, nil
	case []byte:
		return "b:" + string(k), nil
	case *big.Int:
		return "L:" + k.String(), nil
	case *pyGlobal:
		return k, nil
	case pyTuple:
		if depth > 32 {
			return nil, errors.New("dict key nested too deeply")
		}
		s := "t:("
		for _, e := range k {
			h, err := hashKey(e, depth+1)
			if err != nil {
				return nil, err
			}
			s += fmt.Sprintf("%T:%v,", h, h)
			if len(s) > 1<<12 { // shared sub-tuples would otherwise grow the key exponentially
				return nil, errors.New("dict key too large")
			}
		}
		return s + ")", nil
	}
	return nil, fmt.Errorf("unhashable dict key of type %s", pyTypeName(k))
}

// pyObject is an instance of an allow-listed class (argparse.Namespace, a TorchScript module): an inert
// attribute bag filled by BUILD.
type pyObject struct {
	class *pyGlobal
	state any
}

// persistentLoader resolves a BINPERSID persistent id (a torch storage tuple) to a value.
type persistentLoader func(pid any) (any, error)

// unpickler holds the state of one pickle run.
type unpickler struct {
	data        []byte
	pos         int
	stack       []any
	marks       []int
	memo        map[uint32]any
	persistent  persistentLoader
	torchScript bool // __torch__.* classes are inert attribute bags (only inside TorchScript archives)
	op          byte // current opcode and its offset, for errors
	opPos       int
}

// PickleError reports why a pickle was refused, with the byte offset and opcode where reading stopped.
type PickleError struct {
	Offset int    // offset of the opcode in the pickle stream
	Op     string // opcode name, e.g. "GLOBAL", "REDUCE"
	Msg    string
}

func (e *PickleError) Error() string {
	return fmt.Sprintf("pickle: offset %d: %s: %s", e.Offset, e.Op, e.Msg)
}

func (u *unpickler) errorf(format string, args ...any) error {
	return &PickleError{Offset: u.opPos, Op: opName(u.op), Msg: fmt.Sprintf(format, args...)}
}

// unpickle runs the pickle in data from offset 0 to its STOP and returns the result and the number of
// bytes consumed.
func unpickle(data []byte, persistent persistentLoader, torchScript bool) (any, int, error) {
	u := &unpickler{data: data, memo: map[uint32]any{}, persistent: persistent, torchScript: torchScript}
	v, err := u.run()
	return v, u.pos, err
}

func (u *unpickler) take(n int) ([]byte, error) {
	if n < 0 || n > len(u.data)-u.pos {
		return nil, u.errorf("truncated: needs %d bytes, %d left", n, len(u.data)-u.pos)
	}
	b := u.data[u.pos : u.pos+n]
	u.pos += n
	return b, nil
}

// takeLen reads an n-byte little-endian length and then that many bytes.
func (u *unpickler) takeLen(n int) ([]byte, error) {
	b, err := u.take(n)
	if err != nil {
		return nil, err
	}
	var l uint64
	switch n {
	case 1:
		l = uint64(b[0])
	case 4:
		l = uint64(binary.LittleEndian.Uint32(b))
	case 8:
		l = binary.LittleEndian.Uint64(b)
	}
	if l > uint64(len(u.data)-u.pos) {
		return nil, u.errorf("truncated: length %d, %d bytes left", l, len(u.data)-u.pos)
	}
	return u.take(int(l))
}

func (u *unpickler) push(v any) error {
	if len(u.stack) >= maxPickleStack {
		return u.errorf("stack deeper than %d", maxPickleStack)
	}
	u.stack = append(u.stack, v)
	return nil
}

func (u *unpickler) pop() (any, error) {
	n := len(u.stack)
	if n == 0 || (len(u.marks) > 0 && u.marks[len(u.marks)-1] == n) {
		return nil, u.errorf("stack underflow")
	}
	v := u.stack[n-1]
	u.stack = u.stack[:n-1]
	return v, nil
}

func (u *unpickler) top() (any, error) {
	n := len(u.stack)
	if n == 0 || (len(u.marks) > 0 && u.marks[len(u.marks)-1] == n) {
		return nil, u.errorf("stack underflow")
	}
	return u.stack[n-1], nil
}

// popMark returns the values above the topmost MARK and removes them and the mark.
func (u *unpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, u.errorf("no MARK on the stack")
	}
	m := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	items := append([]any(nil), u.stack[m:]...)
	u.stack = u.stack[:m]
	return items, nil
}

func (u *unpickler) run() (any, error) {
	for {
		u.opPos = u.pos
		if u.pos >= len(u.data) {
			return nil, &PickleError{Offset: u.pos, Op: "end of stream", Msg: "truncated: no STOP opcode"}
		}
		u.op = u.data[u.pos]
		u.pos++
		switch u.op {
		case opStop:
			v, err := u.pop()
			if err != nil {
				return nil, err
			}
			if len(u.stack) != 0 || len(u.marks) != 0 {
				return nil, u.errorf("%d values left on the stack", len(u.stack))
			}
			return v, nil
		default:
			if err := u.step(); err != nil {
				return nil, err
			}
		}
	}
}

func (u *unpickler) step() error {
	switch u.op {
	case opProto:
		b, err := u.take(1)
		if err != nil {
			return err
		}
		if b[0] < 2 || b[0] > 5 {
			return u.errorf("unsupported protocol %d", b[0])
		}
	case opFrame:
		// Frames only group opcodes for buffered readers; the whole stream is in memory.
		if _, err := u.take(8); err != nil {
			return err
		}
	case opMark:
		if len(u.marks) >= maxPickleMarks {
			return u.errorf("more than %d open MARKs", maxPickleMarks)
		}
		u.marks = append(u.marks, len(u.stack))
	case opPop:
		if len(u.stack) > 0 && (len(u.marks) == 0 || u.marks[len(u.marks)-1] < len(u.stack)) {
			u.stack = u.stack[:len(u.stack)-1]
		} else if len(u.marks) > 0 && u.marks[len(u.marks)-1] == len(u.stack) {
			u.marks = u.marks[:len(u.marks)-1] // POP of a mark, as Python's unpickler allows
		} else {
			return u.errorf("stack underflow")
		}
	case opPopMark:
		_, err := u.popMark()
		return err
	case opDup:
		v, err := u.top()
		if err != nil {
			return err
		}
		return u.push(v)
	case opNone:
		return u.push(nil)
	case opNewTrue:
		return u.push(true)
	case opNewFalse:
		return u.push(false)
	case opBinInt:
		b, err := u.take(4)
		if err != nil {
			return err
		}
		return u.push(int64(int32(binary.LittleEndian.Uint32(b))))
	case opBinInt1:
		b, err := u.take(1)
		if err != nil {
			return err
		}
		return u.push(int64(b[0]))
	case opBinInt2:
		b, err := u.take(2)
		if err != nil {
			return err
		}
		return u.push(int64(binary.LittleEndian.Uint16(b)))
	case opLong1, opLong4:
		n := 1
		if u.op == opLong4 {
			n = 4
		}
		b, err := u.takeLen(n)
		if err != nil {
			return err
		}
		return u.push(decodeLong(b))
	case opBinFloat:
		b, err := u.take(8)
		if err != nil {
			return err
		}
		return u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
	case opBinUnicode, opShortBinUnicode, opBinUnicode8:
		b, err := u.takeLen(lenSize(u.op))
		if err != nil {
			return err
		}
		if !utf8.Valid(b) {
			return u.errorf("invalid UTF-8 in string")
		}
		return u.push(string(b))
	case opBinString, opShortBinString:
		// Python 2 str: bytes decoded as latin-1 by torch.load's default encoding.
		b, err := u.takeLen(lenSize(u.op))
		if err != nil {
			return err
		}
		return u.push(latin1String(b))
	case opBinBytes, opShortBinBytes, opBinBytes8, opByteArray8:
		b, err := u.takeLen(lenSize(u.op))
		if err != nil {
			return err
		}
		return u.push(bytes.Clone(b))
	case opEmptyList:
		return u.push(&pyList{})
	case opEmptyTuple:
		return u.push(pyTuple{})
	case opEmptyDict:
		return u.push(newDict())
	case opEmptySet:
		return u.push(&pyList{})
	case opList:
		items, err := u.popMark()
		if err != nil {
			return err
		}
		return u.push(&pyList{items: items})
	case opTuple:
		items, err := u.popMark()
		if err != nil {
			return err
		}
		return u.push(pyTuple(items))
	case opFrozenSet:
		items, err := u.popMark()
		if err != nil {
			return err
		}
		return u.push(&pyList{items: items})
	case opTuple1, opTuple2, opTuple3:
		n := int(u.op-opTuple1) + 1
		t := make(pyTuple, n)
		for i := n - 1; i >= 0; i-- {
			v, err := u.pop()
			if err != nil {
				return err
			}
			t[i] = v
		}
		return u.push(t)
	case opDict:
		items, err := u.popMark()
		if err != nil {
			return err
		}
		d := newDict()
		if err := u.setItems(d, items); err != nil {
			return err
		}
		return u.push(d)
	case opAppend:
		v, err := u.pop()
		if err != nil {
			return err
		}
		t, err := u.top()
		if err != nil {
			return err
		}
		l, ok := t.(*pyList)
		if !ok {
			return u.errorf("APPEND to %s", pyTypeName(t))
		}
		l.items = append(l.items, v)
	case opAppends, opAddItems:
		items, err := u.popMark()
		if err != nil {
			return err
		}
		t, err := u.top()
		if err != nil {
			return err
		}
		l, ok := t.(*pyList)
		if !ok {
			return u.errorf("%s to %s", opName(u.op), pyTypeName(t))
		}
		l.items = append(l.items, items...)
	case opSetItem:
		v, err := u.pop()
		if err != nil {
			return err
		}
		k, err := u.pop()
		if err != nil {
			return err
		}
		t, err := u.top()
		if err != nil {
			return err
		}
		d, ok := t.(*pyDict)
		if !ok {
			return u.errorf("SETITEM on %s", pyTypeName(t))
		}
		if err := d.set(k, v); err != nil {
			return u.errorf("%v", err)
		}
	case opSetItems:
		items, err := u.popMark()
		if err != nil {
			return err
		}
		t, err := u.top()
		if err != nil {
			return err
		}
		d, ok := t.(*pyDict)
		if !ok {
			return u.errorf("SETITEMS on %s", pyTypeName(t))
		}
		return u.setItems(d, items)
	case opBinGet, opLongBinGet:
		idx, err := u.memoIndex()
		if err != nil {
			return err
		}
		v, ok := u.memo[idx]
		if !ok {
			return u.errorf("memo index %d was never stored", idx)
		}
		return u.push(v)
	case opBinPut, opLongBinPut:
		idx, err := u.memoIndex()
		if err != nil {
			return err
		}
		v, err := u.top()
		if err != nil {
			return err
		}
		u.memo[idx] = v
	case opMemoize:
		v, err := u.top()
		if err != nil {
			return err
		}
		u.memo[uint32(len(u.memo))] = v
	case opGlobal:
		mod, err := u.readLine()
		if err != nil {
			return err
		}
		name, err := u.readLine()
		if err != nil {
			return err
		}
		g, err := u.resolveGlobal(mod, name)
		if err != nil {
			return err
		}
		return u.push(g)
	case opStackGlobal:
		nv, err := u.pop()
		if err != nil {
			return err
		}
		mv, err := u.pop()
		if err != nil {
			return err
		}
		mod, ok1 := mv.(string)
		name, ok2 := nv.(string)
		if !ok1 || !ok2 {
			return u.errorf("module and name must be strings, got %s and %s", pyTypeName(mv), pyTypeName(nv))
		}
		g, err := u.resolveGlobal(mod, name)
		if err != nil {
			return err
		}
		return u.push(g)
	case opReduce:
		args, err := u.pop()
		if err != nil {
			return err
		}
		f, err := u.pop()
		if err != nil {
			return err
		}
		g, ok := f.(*pyGlobal)
		if !ok || g.call == nil {
			return u.errorf("REDUCE calls %s, which is not an allowed callable", describe(f))
		}
		t, ok := args.(pyTuple)
		if !ok {
			return u.errorf("REDUCE arguments of %s are %s, not a tuple", g, pyTypeName(args))
		}
		v, err := g.call(t)
		if err != nil {
			return u.errorf("%s: %v", g, err)
		}
		return u.push(v)
	case opNewObj:
		args, err := u.pop()
		if err != nil {
			return err
		}
		c, err := u.pop()
		if err != nil {
			return err
		}
		g, ok := c.(*pyGlobal)
		if !ok || g.newObj == nil {
			return u.errorf("NEWOBJ of %s, which is not an allowed class", describe(c))
		}
		t, ok := args.(pyTuple)
		if !ok {
			return u.errorf("NEWOBJ arguments of %s are %s, not a tuple", g, pyTypeName(args))
		}
		v, err := g.newObj(g, t)
		if err != nil {
			return u.errorf("%s: %v", g, err)
		}
		return u.push(v)
	case opBuild:
		state, err := u.pop()
		if err != nil {
			return err
		}
		obj, err := u.top()
		if err != nil {
			return err
		}
		if err := build(obj, state); err != nil {
			return u.errorf("%v", err)
		}
	case opBinPersID:
		pid, err := u.pop()
		if err != nil {
			return err
		}
		if u.persistent == nil {
			return u.errorf("persistent id %s outside a checkpoint container", describe(pid))
		}
		v, err := u.persistent(pid)
		if err != nil {
			return u.errorf("%v", err)
		}
		return u.push(v)
	case opNextBuffer:
		return u.errorf("out-of-band buffers are not supported")
	case opReadOnlyBuffer:
		// Marks the top buffer read-only; every value here already is.
		_, err := u.top()
		return err
	default:
		// INST, OBJ, NEWOBJ_EX, EXT1/2/4, PERSID and the text opcodes of protocols 0-1 are refused:
		// checkpoints do not use them and INST/OBJ/NEWOBJ_EX would instantiate classes.
		return u.errorf("opcode 0x%02x is not supported", u.op)
	}
	return nil
}

func (u *unpickler) setItems(d *pyDict, items []any) error {
	if len(items)%2 != 0 {
		return u.errorf("odd number of items (%d)", len(items))
	}
	for i := 0; i < len(items); i += 2 {
		if err := d.set(items[i], items[i+1]); err != nil {
			return u.errorf("%v", err)
		}
	}
	return nil
}

func (u *unpickler) memoIndex() (uint32, error) {
	if u.op == opBinGet || u.op == opBinPut {
		b, err := u.take(1)
		if err != nil {
			return 0, err
		}
		return uint32(b[0]), nil
	}
	b, err := u.take(4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

// readLine reads the newline-terminated ASCII argument of GLOBAL.
func (u *unpickler) readLine() (string, error) {
	for i := u.pos; i < len(u.data) && i-u.pos < 256; i++ {
		if u.data[i] == '\n' {
			s := string(u.data[u.pos:i])
			u.pos = i + 1
			return s, nil
		}
	}
	return "", u.errorf("truncated or overlong GLOBAL argument")
}

func (u *unpickler) resolveGlobal(mod, name string) (*pyGlobal, error) {
	if g := lookupGlobal(mod, name, u.torchScript); g != nil {
		return g, nil
	}
	full := mod + "." + name
	for _, r := range full {
		if !strconv.IsPrint(r) {
			full = strconv.Quote(full)
			break
		}
	}
	return nil, u.errorf("global %s is not allowed", full)
}

func lenSize(op byte) int {
	switch op {
	case opShortBinUnicode, opShortBinString, opShortBinBytes:
		return 1
	case opBinUnicode8, opBinBytes8, opByteArray8:
		return 8
	}
	return 4
}

// decodeLong decodes a little-endian two's-complement integer of any length.
func decodeLong(b []byte) any {
	if len(b) == 0 {
		return int64(0)
	}
	if len(b) <= 8 {
		var v uint64
		for i := len(b) - 1; i >= 0; i-- {
			v = v<<8 | uint64(b[i])
		}
		shift := 64 - 8*uint(len(b))
		return int64(v<<shift) >> shift
	}
	be := make([]byte, len(b))
	for i, c := range b {
		be[len(b)-1-i] = c
	}
	n := new(big.Int).SetBytes(be)
	if b[len(b)-1]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	if n.IsInt64() {
		return n.Int64()
	}
	return n
}

func latin1String(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

// pyTypeName names the Python type of a decoded value, for errors.
func pyTypeName(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case int64, *big.Int:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case []byte:
		return "bytes"
	case *pyList:
		return "list"
	case pyTuple:
		return "tuple"
	case *pyDict:
		if v.ordered {
			return "collections.OrderedDict"
		}
		return "dict"
	case *pyGlobal:
		return v.String()
	case *pyObject:
		return v.class.String() + " instance"
	case *tensorView:
		return "tensor"
	case *storageRef:
		return "storage"
	case *npDType:
		return "numpy.dtype"
	}
	return fmt.Sprintf("%T", v)
}

// describe names a value in an error: globals by their dotted name, other values by type.
func describe(v any) string {
	if s, ok := v.(string); ok {
		if len(s) > 40 {
			s = s[:40] + "..."
		}
		return strconv.Quote(s)
	}
	return pyTypeName(v)
}

// Pickle opcodes (Python's Lib/pickle.py names).
const (
	opMark            = '('
	opStop            = '.'
	opPop             = '0'
	opPopMark         = '1'
	opDup             = '2'
	opBinInt          = 'J'
	opBinInt1         = 'K'
	opBinInt2         = 'M'
	opNone            = 'N'
	opBinPersID       = 'Q'
	opReduce          = 'R'
	opBinString       = 'T'
	opShortBinString  = 'U'
	opBinUnicode      = 'X'
	opAppend          = 'a'
	opBuild           = 'b'
	opGlobal          = 'c'
	opDict            = 'd'
	opEmptyDict       = '}'
	opAppends         = 'e'
	opBinGet          = 'h'
	opLongBinGet      = 'j'
	opList            = 'l'
	opEmptyList       = ']'
	opBinPut          = 'q'
	opLongBinPut      = 'r'
	opSetItem         = 's'
	opTuple           = 't'
	opEmptyTuple      = ')'
	opSetItems        = 'u'
	opBinFloat        = 'G'
	opProto           = 0x80
	opNewObj          = 0x81
	opTuple1          = 0x85
	opTuple2          = 0x86
	opTuple3          = 0x87
	opNewTrue         = 0x88
	opNewFalse        = 0x89
	opLong1           = 0x8a
	opLong4           = 0x8b
	opBinBytes        = 'B'
	opShortBinBytes   = 'C'
	opShortBinUnicode = 0x8c
	opBinUnicode8     = 0x8d
	opBinBytes8       = 0x8e
	opEmptySet        = 0x8f
	opAddItems        = 0x90
	opFrozenSet       = 0x91
	opStackGlobal     = 0x93
	opMemoize         = 0x94
	opFrame           = 0x95
	opByteArray8      = 0x96
	opNextBuffer      = 0x97
	opReadOnlyBuffer  = 0x98
)

var opNames = map[byte]string{
	opMark: "MARK", opStop: "STOP", opPop: "POP", opPopMark: "POP_MARK", opDup: "DUP", opBinInt: "BININT",
	opBinInt1: "BININT1", opBinInt2: "BININT2", opNone: "NONE", opBinPersID: "BINPERSID", opReduce: "REDUCE",
	opBinString: "BINSTRING", opShortBinString: "SHORT_BINSTRING", opBinUnicode: "BINUNICODE",
	opAppend: "APPEND", opBuild: "BUILD", opGlobal: "GLOBAL", opDict: "DICT", opEmptyDict: "EMPTY_DICT",
	opAppends: "APPENDS", opBinGet: "BINGET", opLongBinGet: "LONG_BINGET", opList: "LIST",
	opEmptyList: "EMPTY_LIST", opBinPut: "BINPUT", opLongBinPut: "LONG_BINPUT", opSetItem: "SETITEM",
	opTuple: "TUPLE", opEmptyTuple: "EMPTY_TUPLE", opSetItems: "SETITEMS", opBinFloat: "BINFLOAT",
	opProto: "PROTO", opNewObj: "NEWOBJ", opTuple1: "TUPLE1", opTuple2: "TUPLE2", opTuple3: "TUPLE3",
	opNewTrue: "NEWTRUE", opNewFalse: "NEWFALSE", opLong1: "LONG1", opLong4: "LONG4", opBinBytes: "BINBYTES",
	opShortBinBytes: "SHORT_BINBYTES", opShortBinUnicode: "SHORT_BINUNICODE", opBinUnicode8: "BINUNICODE8",
	opBinBytes8: "BINBYTES8", opEmptySet: "EMPTY_SET", opAddItems: "ADDITEMS", opFrozenSet: "FROZENSET",
	opStackGlobal: "STACK_GLOBAL", opMemoize: "MEMOIZE", opFrame: "FRAME", opByteArray8: "BYTEARRAY8",
	opNextBuffer: "NEXT_BUFFER", opReadOnlyBuffer: "READONLY_BUFFER",
	'i': "INST", 'o': "OBJ", 0x92: "NEWOBJ_EX", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4", 'P': "PERSID",
	'I': "INT", 'L': "LONG", 'F': "FLOAT", 'S': "STRING", 'V': "UNICODE", 'g': "GET", 'p': "PUT",
}

func opName(op byte) string {
	if n, ok := opNames[op]; ok {
		return n
	}
	return fmt.Sprintf("opcode 0x%02x", op)
}
