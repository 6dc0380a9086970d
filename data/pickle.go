package data

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// This file is a deliberately small pickle reader for the CIFAR python
// batches: dicts of string keys, lists of ints and strings, and a uint8
// numpy array. It is a data parser, not an interpreter: the only globals it
// accepts are the three numpy names an array's pickle references, and they
// are never called, only recognised.

// pyList is a mutable Python list (APPENDS may extend it after memoisation).
type pyList struct{ items []any }

// pyTuple is an immutable Python tuple.
type pyTuple []any

// pyDict is a Python dict with string (or bytes) keys, in insertion order.
type pyDict struct {
	keys []string
	m    map[string]any
}

// pyGlobal is a recognised, allowed global reference.
type pyGlobal struct{ module, name string }

// npArray is a numpy uint8 array rebuilt from its pickled state.
type npArray struct {
	shape []int
	data  []byte
	built bool
}

// npDtype is a numpy dtype; only uint8 ("u1") is accepted.
type npDtype struct{ kind string }

type pyMark struct{}

// allowedGlobals are the only globals a CIFAR pickle may name.
var allowedGlobals = map[pyGlobal]bool{
	{"numpy.core.multiarray", "_reconstruct"}:  true,
	{"numpy._core.multiarray", "_reconstruct"}: true,
	{"numpy", "ndarray"}:                       true,
	{"numpy", "dtype"}:                         true,
}

var errTruncated = errors.New("pickle: truncated data")

// unpickle decodes one pickle stream into plain values: nil, bool, int64,
// string (for both str and bytes), *pyList, pyTuple, *pyDict, *npArray.
func unpickle(b []byte) (any, error) {
	var (
		stack []any
		marks []int
		memo  = map[uint32]any{}
		pos   int
	)
	need := func(n int) ([]byte, error) {
		if n < 0 || n > len(b)-pos {
			return nil, errTruncated
		}
		s := b[pos : pos+n]
		pos += n
		return s, nil
	}
	pop := func() (any, error) {
		if len(stack) == 0 || (len(marks) > 0 && len(stack) <= marks[len(marks)-1]) {
			return nil, errors.New("pickle: stack underflow")
		}
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		return v, nil
	}
	popMark := func() ([]any, error) {
		if len(marks) == 0 {
			return nil, errors.New("pickle: no MARK on the stack")
		}
		m := marks[len(marks)-1]
		marks = marks[:len(marks)-1]
		items := append([]any(nil), stack[m:]...)
		stack = stack[:m]
		return items, nil
	}
	top := func() (any, error) {
		if len(stack) == 0 || (len(marks) > 0 && len(stack) <= marks[len(marks)-1]) {
			return nil, errors.New("pickle: stack underflow")
		}
		return stack[len(stack)-1], nil
	}
	readLine := func() (string, error) {
		for i := pos; i < len(b); i++ {
			if b[i] == '\n' {
				s := string(b[pos:i])
				pos = i + 1
				return s, nil
			}
		}
		return "", errTruncated
	}

	for {
		if pos >= len(b) {
			return nil, errTruncated
		}
		op := b[pos]
		at := pos
		pos++
		var err error
		switch op {
		case 0x80: // PROTO
			var v []byte
			if v, err = need(1); err == nil && v[0] > 5 {
				err = fmt.Errorf("pickle: unsupported protocol %d", v[0])
			}
		case 0x95: // FRAME: a length hint only
			_, err = need(8)
		case '.': // STOP
			v, err := pop()
			if err != nil {
				return nil, err
			}
			if len(marks) != 0 {
				return nil, errors.New("pickle: unbalanced MARK at STOP")
			}
			return v, nil
		case '(':
			marks = append(marks, len(stack))
		case '}':
			stack = append(stack, &pyDict{m: map[string]any{}})
		case ']':
			stack = append(stack, &pyList{})
		case ')':
			stack = append(stack, pyTuple{})
		case 'N':
			stack = append(stack, nil)
		case 0x88:
			stack = append(stack, true)
		case 0x89:
			stack = append(stack, false)
		case 'K': // BININT1
			var v []byte
			if v, err = need(1); err == nil {
				stack = append(stack, int64(v[0]))
			}
		case 'M': // BININT2
			var v []byte
			if v, err = need(2); err == nil {
				stack = append(stack, int64(binary.LittleEndian.Uint16(v)))
			}
		case 'J': // BININT
			var v []byte
			if v, err = need(4); err == nil {
				stack = append(stack, int64(int32(binary.LittleEndian.Uint32(v))))
			}
		case 0x8a: // LONG1
			var v []byte
			if v, err = need(1); err == nil {
				n := int(v[0])
				if n > 8 {
					err = fmt.Errorf("pickle: %d-byte integer too large", n)
					break
				}
				if v, err = need(n); err == nil {
					var x int64
					for i := n - 1; i >= 0; i-- {
						x = x<<8 | int64(v[i])
					}
					if n > 0 && n < 8 && v[n-1]&0x80 != 0 {
						x -= 1 << (8 * n)
					}
					stack = append(stack, x)
				}
			}
		case 'U', 'C', 0x8c: // SHORT_BINSTRING, SHORT_BINBYTES, SHORT_BINUNICODE
			var v []byte
			if v, err = need(1); err == nil {
				if v, err = need(int(v[0])); err == nil {
					stack = append(stack, string(v))
				}
			}
		case 'T', 'B', 'X': // BINSTRING, BINBYTES, BINUNICODE
			var v []byte
			if v, err = need(4); err == nil {
				n := int64(int32(binary.LittleEndian.Uint32(v)))
				if op != 'T' {
					n = int64(binary.LittleEndian.Uint32(v))
				}
				if n < 0 || n > int64(len(b)-pos) {
					err = errTruncated
					break
				}
				v, _ = need(int(n))
				stack = append(stack, string(v))
			}
		case 'q', 'r', 0x94: // BINPUT, LONG_BINPUT, MEMOIZE
			var idx uint32
			switch op {
			case 'q':
				var v []byte
				if v, err = need(1); err == nil {
					idx = uint32(v[0])
				}
			case 'r':
				var v []byte
				if v, err = need(4); err == nil {
					idx = binary.LittleEndian.Uint32(v)
				}
			default:
				idx = uint32(len(memo))
			}
			if err == nil {
				var v any
				if v, err = top(); err == nil {
					memo[idx] = v
				}
			}
		case 'h', 'j': // BINGET, LONG_BINGET
			var idx uint32
			var v []byte
			if op == 'h' {
				if v, err = need(1); err == nil {
					idx = uint32(v[0])
				}
			} else if v, err = need(4); err == nil {
				idx = binary.LittleEndian.Uint32(v)
			}
			if err == nil {
				x, ok := memo[idx]
				if !ok {
					err = fmt.Errorf("pickle: memo index %d not set", idx)
					break
				}
				stack = append(stack, x)
			}
		case 'c': // GLOBAL
			var mod, name string
			if mod, err = readLine(); err == nil {
				if name, err = readLine(); err == nil {
					g := pyGlobal{mod, name}
					if !allowedGlobals[g] {
						err = fmt.Errorf("pickle: global %s.%s is not allowed in a CIFAR file", mod, name)
						break
					}
					stack = append(stack, g)
				}
			}
		case 't':
			var items []any
			if items, err = popMark(); err == nil {
				stack = append(stack, pyTuple(items))
			}
		case 0x85, 0x86, 0x87: // TUPLE1..3
			n := int(op - 0x84)
			if len(stack) < n || (len(marks) > 0 && len(stack)-n < marks[len(marks)-1]) {
				err = errors.New("pickle: stack underflow")
				break
			}
			t := append(pyTuple(nil), stack[len(stack)-n:]...)
			stack = append(stack[:len(stack)-n], t)
		case 'a', 'e': // APPEND, APPENDS
			var items []any
			if op == 'a' {
				var v any
				if v, err = pop(); err == nil {
					items = []any{v}
				}
			} else {
				items, err = popMark()
			}
			if err == nil {
				var l any
				if l, err = top(); err == nil {
					lst, ok := l.(*pyList)
					if !ok {
						err = fmt.Errorf("pickle: APPEND to a %T", l)
						break
					}
					lst.items = append(lst.items, items...)
				}
			}
		case 's', 'u': // SETITEM, SETITEMS
			var items []any
			if op == 's' {
				var k, v any
				if v, err = pop(); err == nil {
					if k, err = pop(); err == nil {
						items = []any{k, v}
					}
				}
			} else {
				items, err = popMark()
			}
			if err == nil && len(items)%2 != 0 {
				err = errors.New("pickle: odd number of items for SETITEMS")
			}
			if err == nil {
				var d any
				if d, err = top(); err == nil {
					dict, ok := d.(*pyDict)
					if !ok {
						err = fmt.Errorf("pickle: SETITEM on a %T", d)
						break
					}
					for i := 0; i < len(items); i += 2 {
						k, ok := items[i].(string)
						if !ok {
							err = fmt.Errorf("pickle: dict key of type %T", items[i])
							break
						}
						if _, dup := dict.m[k]; !dup {
							dict.keys = append(dict.keys, k)
						}
						dict.m[k] = items[i+1]
					}
				}
			}
		case 'R': // REDUCE: only the two numpy constructors, recognised by name
			var args, fn any
			if args, err = pop(); err == nil {
				if fn, err = pop(); err == nil {
					var v any
					if v, err = reduce(fn, args); err == nil {
						stack = append(stack, v)
					}
				}
			}
		case 'b': // BUILD
			var state, obj any
			if state, err = pop(); err == nil {
				if obj, err = top(); err == nil {
					err = build(obj, state)
				}
			}
		default:
			err = fmt.Errorf("pickle: opcode 0x%02x (%q) is not supported", op, rune(op))
		}
		if err != nil {
			if err == errTruncated {
				return nil, err
			}
			return nil, fmt.Errorf("%w (at byte %d)", err, at)
		}
	}
}

func reduce(fn, args any) (any, error) {
	g, ok := fn.(pyGlobal)
	if !ok {
		return nil, fmt.Errorf("pickle: REDUCE on a %T", fn)
	}
	a, ok := args.(pyTuple)
	if !ok {
		return nil, fmt.Errorf("pickle: REDUCE arguments are a %T", args)
	}
	switch g.name {
	case "_reconstruct":
		// _reconstruct(numpy.ndarray, (0,), b'b'): an empty array to BUILD.
		if len(a) != 3 || a[0] != (pyGlobal{"numpy", "ndarray"}) {
			return nil, errors.New("pickle: unexpected numpy _reconstruct arguments")
		}
		return &npArray{}, nil
	case "dtype":
		// dtype('u1', 0, 1)
		if len(a) != 3 {
			return nil, errors.New("pickle: unexpected numpy dtype arguments")
		}
		kind, ok := a[0].(string)
		if !ok || kind != "u1" {
			return nil, fmt.Errorf("pickle: numpy dtype %v is not supported (want u1)", a[0])
		}
		return &npDtype{kind: kind}, nil
	}
	return nil, fmt.Errorf("pickle: %s.%s cannot be called", g.module, g.name)
}

func build(obj, state any) error {
	switch o := obj.(type) {
	case *npDtype:
		// (3, '|', None, None, None, -1, -1, 0): byte order must be '|'
		// (or '<', '=' for one-byte types, which are the same).
		st, ok := state.(pyTuple)
		if !ok || len(st) < 2 {
			return errors.New("pickle: malformed numpy dtype state")
		}
		if bo, _ := st[1].(string); bo != "|" && bo != "<" && bo != "=" {
			return fmt.Errorf("pickle: numpy dtype byte order %v", st[1])
		}
		return nil
	case *npArray:
		// (version, shape, dtype, is_fortran, raw bytes)
		st, ok := state.(pyTuple)
		if !ok || len(st) != 5 || o.built {
			return errors.New("pickle: malformed numpy array state")
		}
		shapeT, ok := st[1].(pyTuple)
		if !ok || len(shapeT) == 0 || len(shapeT) > 4 {
			return errors.New("pickle: malformed numpy array shape")
		}
		if _, ok := st[2].(*npDtype); !ok {
			return fmt.Errorf("pickle: numpy array dtype is a %T", st[2])
		}
		if f, _ := st[3].(bool); f && len(shapeT) > 1 {
			return errors.New("pickle: Fortran-ordered numpy arrays are not supported")
		}
		raw, ok := st[4].(string)
		if !ok {
			return fmt.Errorf("pickle: numpy array data is a %T, want raw bytes", st[4])
		}
		n := 1
		shape := make([]int, len(shapeT))
		for i, d := range shapeT {
			v, ok := d.(int64)
			if !ok || v < 0 || v > int64(len(raw)) {
				return fmt.Errorf("pickle: bad numpy array dimension %v", d)
			}
			shape[i] = int(v)
			n *= int(v)
			if n > len(raw) {
				break
			}
		}
		if n != len(raw) {
			return fmt.Errorf("pickle: numpy array of shape %v holds %d bytes", shape, len(raw))
		}
		o.shape, o.data, o.built = shape, []byte(raw), true
		return nil
	}
	return fmt.Errorf("pickle: BUILD on a %T", obj)
}
