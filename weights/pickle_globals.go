package weights

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// pyGlobal is a resolved, allow-listed global. call implements REDUCE, newObj implements NEWOBJ; a nil
// function means the operation is refused. Neither runs anything but the Go code below.
type pyGlobal struct {
	module, name string
	call         func(args pyTuple) (any, error)
	newObj       func(g *pyGlobal, args pyTuple) (any, error)
	dtype        DType // for torch storage classes
}

func (g *pyGlobal) String() string { return g.module + "." + g.name }

// storageDTypes are the torch storage classes a persistent id may name, with their element type.
var storageDTypes = map[string]DType{
	"FloatStorage": F32, "DoubleStorage": F64, "HalfStorage": F16, "BFloat16Storage": BF16,
	"LongStorage": I64, "IntStorage": I32, "ShortStorage": I16, "CharStorage": I8,
	"ByteStorage": U8, "BoolStorage": Bool,
}

// allowedGlobals is the allow-list of exact (module, name) pairs outside TorchScript classes.
var allowedGlobals = map[string]func(g *pyGlobal){
	"torch._utils._rebuild_tensor_v2":            func(g *pyGlobal) { g.call = rebuildTensorV2 },
	"torch._utils._rebuild_tensor":               func(g *pyGlobal) { g.call = rebuildTensor },
	"torch._utils._rebuild_parameter":            func(g *pyGlobal) { g.call = rebuildParameter },
	"torch._utils._rebuild_parameter_with_state": func(g *pyGlobal) { g.call = rebuildParameter },
	"torch._tensor._rebuild_from_type_v2":        func(g *pyGlobal) { g.call = rebuildFromType },
	"torch.Tensor":                               func(*pyGlobal) {},
	"torch.nn.parameter.Parameter":               func(*pyGlobal) {},
	"torch.Size":                                 func(g *pyGlobal) { g.call = callTupleOf },
	"torch.device":                               func(g *pyGlobal) { g.call = callDevice },
	"collections.OrderedDict":                    func(g *pyGlobal) { g.call = callOrderedDict },
	"builtins.set":                               func(g *pyGlobal) { g.call = callSet },
	"builtins.frozenset":                         func(g *pyGlobal) { g.call = callSet },
	"__builtin__.set":                            func(g *pyGlobal) { g.call = callSet },
	"__builtin__.frozenset":                      func(g *pyGlobal) { g.call = callSet },
	"argparse.Namespace": func(g *pyGlobal) {
		g.newObj = newInert
		g.call = func(args pyTuple) (any, error) { return newInert(g, args) }
	},
	"_codecs.encode":                      func(g *pyGlobal) { g.call = callCodecsEncode },
	"__builtin__.bytes":                   func(g *pyGlobal) { g.call = callBytes },
	"builtins.bytes":                      func(g *pyGlobal) { g.call = callBytes },
	"numpy.ndarray":                       func(*pyGlobal) {},
	"numpy.dtype":                         func(g *pyGlobal) { g.call = callNumpyDType },
	"numpy.core.multiarray._reconstruct":  func(g *pyGlobal) { g.call = callNumpyReconstruct },
	"numpy._core.multiarray._reconstruct": func(g *pyGlobal) { g.call = callNumpyReconstruct },
	"numpy.core.multiarray.scalar":        func(g *pyGlobal) { g.call = callNumpyScalar },
	"numpy._core.multiarray.scalar":       func(g *pyGlobal) { g.call = callNumpyScalar },
	// TorchScript wraps typed containers in these; they return their first argument unchanged.
	"torch.jit._pickle.restore_type_tag": func(g *pyGlobal) { g.call = callIdentity },
	"torch.jit._pickle.build_intlist":    func(g *pyGlobal) { g.call = callIdentity },
	"torch.jit._pickle.build_doublelist": func(g *pyGlobal) { g.call = callIdentity },
	"torch.jit._pickle.build_boollist":   func(g *pyGlobal) { g.call = callIdentity },
	"torch.jit._pickle.build_tensorlist": func(g *pyGlobal) { g.call = callIdentity },
}

// lookupGlobal returns the allow-listed global or nil. Matching is on the exact pair, never a prefix,
// except that TorchScript archives name their module classes __torch__.<path>.
func lookupGlobal(mod, name string, torchScript bool) *pyGlobal {
	g := &pyGlobal{module: mod, name: name}
	if mod == "torch" {
		if dt, ok := storageDTypes[name]; ok {
			g.dtype = dt
			return g
		}
	}
	if init, ok := allowedGlobals[mod+"."+name]; ok && init != nil {
		init(g)
		return g
	}
	if torchScript && (mod == "__torch__" || strings.HasPrefix(mod, "__torch__.")) {
		g.newObj = newInert
		return g
	}
	return nil
}

func newInert(g *pyGlobal, args pyTuple) (any, error) {
	if len(args) != 0 {
		return nil, fmt.Errorf("takes no constructor arguments, got %d", len(args))
	}
	return &pyObject{class: g}, nil
}

// build applies BUILD's state to obj: allowed only for inert attribute bags, dicts (OrderedDict carries
// _metadata) and numpy reconstruction.
func build(obj, state any) error {
	switch o := obj.(type) {
	case *pyObject:
		o.state = state
		return nil
	case *pyDict:
		d, ok := state.(*pyDict)
		if !ok {
			return fmt.Errorf("BUILD on %s with %s state", pyTypeName(o), pyTypeName(state))
		}
		for _, k := range d.keys {
			o.attrs = append(o.attrs, fmt.Sprint(k))
		}
		return nil
	case *npDType:
		return o.setState(state)
	case *tensorView:
		if o.npPending {
			return o.setNumpyState(state)
		}
	}
	return fmt.Errorf("BUILD on %s is not allowed", pyTypeName(obj))
}

func toInt(v any) (int64, error) {
	switch v := v.(type) {
	case int64:
		return v, nil
	case bool:
		if v {
			return 1, nil
		}
		return 0, nil
	case *big.Int:
		return 0, fmt.Errorf("integer %s out of range", v)
	}
	return 0, fmt.Errorf("want an int, got %s", pyTypeName(v))
}

func toInts(v any) ([]int64, error) {
	var items []any
	switch v := v.(type) {
	case pyTuple:
		items = v
	case *pyList:
		items = v.items
	default:
		return nil, fmt.Errorf("want a tuple of ints, got %s", pyTypeName(v))
	}
	out := make([]int64, len(items))
	for i, it := range items {
		n, err := toInt(it)
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

// rebuildTensorV2 implements torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride,
// requires_grad, backward_hooks[, metadata]).
func rebuildTensorV2(args pyTuple) (any, error) {
	if len(args) != 6 && len(args) != 7 {
		return nil, fmt.Errorf("want 6 or 7 arguments, got %d", len(args))
	}
	return rebuildTensor(args[:4])
}

// rebuildTensor implements torch._utils._rebuild_tensor(storage, storage_offset, size, stride).
func rebuildTensor(args pyTuple) (any, error) {
	if len(args) != 4 {
		return nil, fmt.Errorf("want 4 arguments, got %d", len(args))
	}
	s, ok := args[0].(*storageRef)
	if !ok {
		return nil, fmt.Errorf("first argument is %s, not a storage", pyTypeName(args[0]))
	}
	off, err := toInt(args[1])
	if err != nil {
		return nil, fmt.Errorf("storage_offset: %v", err)
	}
	size, err := toInts(args[2])
	if err != nil {
		return nil, fmt.Errorf("size: %v", err)
	}
	stride, err := toInts(args[3])
	if err != nil {
		return nil, fmt.Errorf("stride: %v", err)
	}
	return newTensorView(s, off, size, stride)
}

// rebuildParameter implements _rebuild_parameter(data, requires_grad, backward_hooks) and its _with_state
// variant: a Parameter is its tensor.
func rebuildParameter(args pyTuple) (any, error) {
	if len(args) != 3 && len(args) != 4 {
		return nil, fmt.Errorf("want 3 or 4 arguments, got %d", len(args))
	}
	t, ok := args[0].(*tensorView)
	if !ok || t.npPending {
		return nil, fmt.Errorf("data is %s, not a tensor", pyTypeName(args[0]))
	}
	return t, nil
}

// rebuildFromType implements torch._tensor._rebuild_from_type_v2(func, type, args, state) for plain
// tensors and Parameters: it applies the (allow-listed) rebuild function and drops the state.
func rebuildFromType(args pyTuple) (any, error) {
	if len(args) != 4 {
		return nil, fmt.Errorf("want 4 arguments, got %d", len(args))
	}
	f, ok := args[0].(*pyGlobal)
	if !ok || f.call == nil {
		return nil, fmt.Errorf("rebuild function %s is not allowed", pyTypeName(args[0]))
	}
	typ, ok := args[1].(*pyGlobal)
	if !ok || (typ.String() != "torch.Tensor" && typ.String() != "torch.nn.parameter.Parameter") {
		return nil, fmt.Errorf("tensor type %s is not allowed", pyTypeName(args[1]))
	}
	a, ok := args[2].(pyTuple)
	if !ok {
		return nil, errors.New("arguments are not a tuple")
	}
	v, err := f.call(a)
	if err != nil {
		return nil, err
	}
	if _, ok := v.(*tensorView); !ok {
		return nil, fmt.Errorf("%s did not return a tensor", f)
	}
	return v, nil
}

func callTupleOf(args pyTuple) (any, error) {
	if len(args) == 0 {
		return pyTuple{}, nil
	}
	if len(args) != 1 {
		return nil, fmt.Errorf("want 1 argument, got %d", len(args))
	}
	switch a := args[0].(type) {
	case pyTuple:
		return a, nil
	case *pyList:
		return pyTuple(a.items), nil
	}
	return nil, fmt.Errorf("want a tuple, got %s", pyTypeName(args[0]))
}

func callSet(args pyTuple) (any, error) {
	t, err := callTupleOf(args)
	if err != nil {
		return nil, err
	}
	return &pyList{items: t.(pyTuple)}, nil
}

// callDevice turns torch.device('cuda', 0) into the string "cuda:0".
func callDevice(args pyTuple) (any, error) {
	if len(args) < 1 || len(args) > 2 {
		return nil, fmt.Errorf("want 1 or 2 arguments, got %d", len(args))
	}
	s, ok := args[0].(string)
	if !ok {
		return nil, fmt.Errorf("device type is %s, not a str", pyTypeName(args[0]))
	}
	if len(args) == 2 && args[1] != nil {
		i, err := toInt(args[1])
		if err != nil {
			return nil, err
		}
		s = fmt.Sprintf("%s:%d", s, i)
	}
	return s, nil
}

func callOrderedDict(args pyTuple) (any, error) {
	d := newDict()
	d.ordered = true
	if len(args) == 0 {
		return d, nil
	}
	if len(args) != 1 {
		return nil, fmt.Errorf("want at most 1 argument, got %d", len(args))
	}
	var pairs []any
	switch a := args[0].(type) {
	case *pyList:
		pairs = a.items
	case pyTuple:
		pairs = a
	case *pyDict:
		for i := range a.keys {
			if err := d.set(a.keys[i], a.vals[i]); err != nil {
				return nil, err
			}
		}
		return d, nil
	default:
		return nil, fmt.Errorf("items are %s", pyTypeName(args[0]))
	}
	for _, p := range pairs {
		kv, ok := p.(pyTuple)
		if !ok || len(kv) != 2 {
			return nil, errors.New("item is not a (key, value) pair")
		}
		if err := d.set(kv[0], kv[1]); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// callCodecsEncode implements _codecs.encode(str, 'latin1'), how protocol 2 pickles carry bytes.
func callCodecsEncode(args pyTuple) (any, error) {
	if len(args) != 2 {
		return nil, fmt.Errorf("want 2 arguments, got %d", len(args))
	}
	s, ok1 := args[0].(string)
	enc, ok2 := args[1].(string)
	if !ok1 || !ok2 {
		return nil, errors.New("want (str, encoding)")
	}
	if e := strings.ToLower(enc); e != "latin1" && e != "latin-1" && e != "iso-8859-1" {
		return nil, fmt.Errorf("encoding %q is not supported", enc)
	}
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff {
			return nil, fmt.Errorf("code point %U is not latin-1", r)
		}
		b = append(b, byte(r))
	}
	return b, nil
}

// callBytes implements bytes() and bytes(b); bytes(n) would allocate n bytes and is refused.
func callBytes(args pyTuple) (any, error) {
	if len(args) == 0 {
		return []byte{}, nil
	}
	if b, ok := args[0].([]byte); ok && len(args) == 1 {
		return b, nil
	}
	return nil, errors.New("only bytes() and bytes(<bytes>) are supported")
}

func callIdentity(args pyTuple) (any, error) {
	if len(args) < 1 || len(args) > 2 {
		return nil, fmt.Errorf("want 1 or 2 arguments, got %d", len(args))
	}
	return args[0], nil
}
