// Package weights reads and writes model weights and tensor files: safetensors (memory-mapped, zero-copy
// for F32) and PyTorch checkpoints (a pickle reader that never executes code). Every input file is treated
// as untrusted: malformed data yields an error naming the file and the tensor, never a panic.
package weights

import (
	"encoding/binary"
	"fmt"
	"math"
)

// DType names an element type with safetensors' spelling.
type DType string

const (
	F64  DType = "F64"
	F32  DType = "F32"
	F16  DType = "F16"
	BF16 DType = "BF16"
	I64  DType = "I64"
	I32  DType = "I32"
	I16  DType = "I16"
	I8   DType = "I8"
	U8   DType = "U8"
	Bool DType = "BOOL"
)

// Size is the number of bytes of one element, or 0 for an unknown dtype.
func (d DType) Size() int {
	switch d {
	case F64, I64:
		return 8
	case F32, I32:
		return 4
	case F16, BF16, I16:
		return 2
	case I8, U8, Bool:
		return 1
	}
	return 0
}

// Tensor is one named array: little-endian, row-major bytes of DType. Data may alias a memory-mapped
// file; it must not be written to and is valid until the Store it came from is closed.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte
}

// NumElements is the product of Shape (1 for a scalar).
func (t *Tensor) NumElements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Float32 returns the values widened or converted to float32. For F32 data that is suitably aligned the
// result aliases Data.
func (t *Tensor) Float32() ([]float32, error) {
	n := t.NumElements()
	if sz := t.DType.Size(); sz == 0 || len(t.Data) != n*sz {
		return nil, fmt.Errorf("tensor %q: %d bytes do not hold %d elements of %s", t.Name, len(t.Data), n, t.DType)
	}
	if t.DType == F32 {
		if v, ok := aliasF32(t.Data); ok {
			return v, nil
		}
	}
	out := make([]float32, n)
	b := t.Data
	for i := range out {
		switch t.DType {
		case F32:
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		case F64:
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:])))
		case F16:
			out[i] = HalfToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
		case BF16:
			out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(b[2*i:])) << 16)
		case I64:
			out[i] = float32(int64(binary.LittleEndian.Uint64(b[8*i:])))
		case I32:
			out[i] = float32(int32(binary.LittleEndian.Uint32(b[4*i:])))
		case I16:
			out[i] = float32(int16(binary.LittleEndian.Uint16(b[2*i:])))
		case I8:
			out[i] = float32(int8(b[i]))
		case U8, Bool:
			out[i] = float32(b[i])
		}
	}
	return out, nil
}

// Int64 returns integer (or boolean) values as int64. Float dtypes are an error.
func (t *Tensor) Int64() ([]int64, error) {
	n := t.NumElements()
	if sz := t.DType.Size(); sz == 0 || len(t.Data) != n*sz {
		return nil, fmt.Errorf("tensor %q: %d bytes do not hold %d elements of %s", t.Name, len(t.Data), n, t.DType)
	}
	out := make([]int64, n)
	b := t.Data
	for i := range out {
		switch t.DType {
		case I64:
			out[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
		case I32:
			out[i] = int64(int32(binary.LittleEndian.Uint32(b[4*i:])))
		case I16:
			out[i] = int64(int16(binary.LittleEndian.Uint16(b[2*i:])))
		case I8:
			out[i] = int64(int8(b[i]))
		case U8, Bool:
			out[i] = int64(b[i])
		default:
			return nil, fmt.Errorf("tensor %q: %s is not an integer dtype", t.Name, t.DType)
		}
	}
	return out, nil
}

// HalfToFloat32 converts IEEE binary16 bits to float32 exactly, subnormals included.
func HalfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	man := uint32(h) & 0x3ff
	switch {
	case exp == 0 && man == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: man * 2^-24
		f := float32(man) * (1.0 / (1 << 24))
		if sign != 0 {
			f = -f
		}
		return f
	case exp == 0x1f:
		return math.Float32frombits(sign | 0xff<<23 | man<<13)
	}
	return math.Float32frombits(sign | (exp+112)<<23 | man<<13)
}

// Store is a set of named tensors, such as an opened checkpoint file.
type Store interface {
	// Names lists the tensor names in sorted order.
	Names() []string
	// Tensor returns the named tensor or an error if it is absent.
	Tensor(name string) (*Tensor, error)
	// Metadata returns the file's string metadata (may be empty, never nil).
	Metadata() map[string]string
	// Close releases the file; tensors' Data must not be used afterwards.
	Close() error
}
