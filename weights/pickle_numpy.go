package weights

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// npDType is a reconstructed numpy.dtype: only fixed-size numeric and bool types are accepted, because an
// object dtype's payload would be arbitrary pickled objects.
type npDType struct {
	descr     string
	dtype     DType
	bigEndian bool
}

var numpyDTypes = map[string]DType{
	"f2": F16, "f4": F32, "f8": F64, "i1": I8, "i2": I16, "i4": I32, "i8": I64, "u1": U8, "b1": Bool,
}

// callNumpyDType implements numpy.dtype(descr, align, copy).
func callNumpyDType(args pyTuple) (any, error) {
	if len(args) < 1 || len(args) > 3 {
		return nil, fmt.Errorf("want 1 to 3 arguments, got %d", len(args))
	}
	descr, ok := args[0].(string)
	if !ok {
		return nil, fmt.Errorf("descr is %s, not a str", pyTypeName(args[0]))
	}
	d := &npDType{descr: descr}
	if len(descr) > 0 && (descr[0] == '<' || descr[0] == '>' || descr[0] == '|' || descr[0] == '=') {
		d.bigEndian = descr[0] == '>'
		descr = descr[1:]
	}
	dt, ok := numpyDTypes[descr]
	if !ok {
		return nil, fmt.Errorf("numpy dtype %q is not supported (only numeric and bool dtypes are)", d.descr)
	}
	d.dtype = dt
	return d, nil
}

// setState applies dtype.__setstate__'s tuple (version, byteorder, subarray, names, fields, elsize,
// alignment, flags): only the byte order matters for plain numeric dtypes.
func (d *npDType) setState(state any) error {
	t, ok := state.(pyTuple)
	if !ok || len(t) < 2 {
		return fmt.Errorf("numpy.dtype state is %s", pyTypeName(state))
	}
	bo, ok := t[1].(string)
	if !ok {
		return errors.New("numpy.dtype byte order is not a str")
	}
	switch bo {
	case "<", "|", "=":
		d.bigEndian = false
	case ">":
		d.bigEndian = true
	default:
		return fmt.Errorf("numpy.dtype byte order %q", bo)
	}
	for _, x := range t[2:min(len(t), 5)] {
		if x != nil {
			return errors.New("structured and subarray numpy dtypes are not supported")
		}
	}
	return nil
}

// callNumpyReconstruct implements numpy.core.multiarray._reconstruct(ndarray, shape, typecode): an empty
// array that BUILD fills.
func callNumpyReconstruct(args pyTuple) (any, error) {
	if len(args) != 3 {
		return nil, fmt.Errorf("want 3 arguments, got %d", len(args))
	}
	if g, ok := args[0].(*pyGlobal); !ok || g.String() != "numpy.ndarray" {
		return nil, fmt.Errorf("class %s is not numpy.ndarray", pyTypeName(args[0]))
	}
	return &tensorView{npPending: true}, nil
}

// setNumpyState applies ndarray.__setstate__((version,) shape, dtype, is_fortran, rawdata): the raw bytes
// become a little-endian storage viewed in C or Fortran order.
func (t *tensorView) setNumpyState(state any) error {
	st, ok := state.(pyTuple)
	if ok && len(st) == 5 {
		st = st[1:]
	}
	if !ok || len(st) != 4 {
		return fmt.Errorf("numpy.ndarray state is %s", pyTypeName(state))
	}
	shape, err := toInts(st[0])
	if err != nil {
		return fmt.Errorf("numpy.ndarray shape: %v", err)
	}
	dt, ok := st[1].(*npDType)
	if !ok {
		return fmt.Errorf("numpy.ndarray dtype is %s", pyTypeName(st[1]))
	}
	fortran, ok := st[2].(bool)
	if !ok {
		return errors.New("numpy.ndarray fortran flag is not a bool")
	}
	raw, ok := st[3].([]byte)
	if !ok {
		return fmt.Errorf("numpy.ndarray data is %s, not bytes", pyTypeName(st[3]))
	}
	n, ok := checkedNumel(shape)
	if !ok || n > int64(len(raw)) || n*int64(dt.dtype.Size()) != int64(len(raw)) {
		return fmt.Errorf("numpy.ndarray of shape %v and dtype %s does not match %d data bytes", shape, dt.descr, len(raw))
	}
	data := raw
	if sz := dt.dtype.Size(); dt.bigEndian && sz > 1 {
		data = make([]byte, len(raw))
		for i := 0; i < len(raw); i += sz {
			for j := 0; j < sz; j++ {
				data[i+j] = raw[i+sz-1-j]
			}
		}
	}
	stride := make([]int64, len(shape))
	acc := int64(1)
	for k := range shape {
		i := len(shape) - 1 - k // C order: last dimension fastest
		if fortran {
			i = k
		}
		stride[i] = acc
		acc *= max(shape[i], 1)
	}
	s := &storageRef{key: "numpy", dtype: dt.dtype, numel: n, data: data, resolved: true}
	v, err := newTensorView(s, 0, shape, stride)
	if err != nil {
		return err
	}
	*t = *v
	return nil
}

// checkedNumel multiplies sizes, reporting false on a negative size or int64 overflow.
func checkedNumel(shape []int64) (int64, bool) {
	n := int64(1)
	for _, s := range shape {
		if s < 0 {
			return 0, false
		}
		if s != 0 && n > math.MaxInt64/s {
			return 0, false
		}
		n *= s
	}
	return n, true
}

// callNumpyScalar implements numpy.core.multiarray.scalar(dtype, bytes): the value as a Go number.
func callNumpyScalar(args pyTuple) (any, error) {
	if len(args) != 2 {
		return nil, fmt.Errorf("want 2 arguments, got %d", len(args))
	}
	dt, ok := args[0].(*npDType)
	if !ok {
		return nil, fmt.Errorf("dtype is %s", pyTypeName(args[0]))
	}
	raw, ok := args[1].([]byte)
	if !ok || len(raw) != dt.dtype.Size() {
		return nil, fmt.Errorf("scalar of dtype %s needs %d bytes", dt.descr, dt.dtype.Size())
	}
	b := raw
	if dt.bigEndian {
		b = make([]byte, len(raw))
		for i := range raw {
			b[i] = raw[len(raw)-1-i]
		}
	}
	le := binary.LittleEndian
	switch dt.dtype {
	case F64:
		return math.Float64frombits(le.Uint64(b)), nil
	case F32:
		return float64(math.Float32frombits(le.Uint32(b))), nil
	case F16:
		return float64(HalfToFloat32(le.Uint16(b))), nil
	case I64:
		return int64(le.Uint64(b)), nil
	case I32:
		return int64(int32(le.Uint32(b))), nil
	case I16:
		return int64(int16(le.Uint16(b))), nil
	case I8:
		return int64(int8(b[0])), nil
	case U8:
		return int64(b[0]), nil
	case Bool:
		return b[0] != 0, nil
	}
	return nil, fmt.Errorf("numpy scalar of dtype %s", dt.descr)
}
