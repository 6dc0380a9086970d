package weights

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"unicode/utf8"

	"plp/atomicfile"
)

// WriteSafetensors writes tensors, back to back in the given order, and meta (under __metadata__,
// omitted when empty) to a safetensors file at path. The write is atomic: the data goes to a
// temporary file in the same directory, which is synced and then renamed over path, so readers see
// either the old file or the complete new one. The data buffer starts 8-byte aligned; callers that
// want every tensor naturally aligned order them by decreasing element size, as the reference
// serializer does.
func WriteSafetensors(path string, tensors []*Tensor, meta map[string]string) error {
	hdr, err := safetensorsHeader(tensors, meta)
	if err != nil {
		return fmt.Errorf("safetensors %s: %w", path, err)
	}
	err = atomicfile.Write(path, func(w io.Writer) error {
		if _, err := w.Write(hdr); err != nil {
			return err
		}
		for _, t := range tensors {
			if _, err := w.Write(t.Data); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("safetensors %s: %w", path, err)
	}
	return nil
}

// EncodeSafetensors writes the safetensors serialization of tensors and meta to w, with the same
// layout as WriteSafetensors.
func EncodeSafetensors(w io.Writer, tensors []*Tensor, meta map[string]string) error {
	hdr, err := safetensorsHeader(tensors, meta)
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	for _, t := range tensors {
		if _, err := w.Write(t.Data); err != nil {
			return err
		}
	}
	return nil
}

// safetensorsHeader validates tensors and returns the 8-byte length followed by the JSON header,
// padded with spaces to a multiple of 8 bytes so that the data buffer stays 8-byte aligned.
func safetensorsHeader(tensors []*Tensor, meta map[string]string) ([]byte, error) {
	var buf bytes.Buffer
	buf.Write(make([]byte, 8)) // length, filled in below
	buf.WriteByte('{')
	writeString := func(s string) {
		// encoding/json escapes <, > and & by default; plain output is easier on other tools' eyes.
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.Encode(s)               // a valid UTF-8 string cannot fail to encode
		buf.Truncate(buf.Len() - 1) // Encode appends a newline
	}
	if len(meta) > 0 {
		buf.WriteString(`"` + metadataKey + `":{`)
		keys := make([]string, 0, len(meta))
		for k := range meta {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			// encoding/json would silently replace invalid UTF-8, changing the key or value.
			if !utf8.ValidString(k) || !utf8.ValidString(meta[k]) {
				return nil, fmt.Errorf("metadata key %q: key or value is not valid UTF-8", k)
			}
			if i > 0 {
				buf.WriteByte(',')
			}
			writeString(k)
			buf.WriteByte(':')
			writeString(meta[k])
		}
		buf.WriteByte('}')
	}
	seen := make(map[string]bool, len(tensors))
	var off int64
	for i, t := range tensors {
		if t == nil {
			return nil, fmt.Errorf("tensor %d is nil", i)
		}
		switch {
		case t.Name == metadataKey || !utf8.ValidString(t.Name):
			return nil, fmt.Errorf("tensor %q: invalid name", t.Name)
		case seen[t.Name]:
			return nil, fmt.Errorf("tensor %q: duplicate name", t.Name)
		case t.DType.Size() == 0:
			return nil, fmt.Errorf("tensor %q: unsupported dtype %q", t.Name, t.DType)
		}
		seen[t.Name] = true
		n, ok := shapeElements(t.Shape)
		if !ok {
			return nil, fmt.Errorf("tensor %q: invalid shape %v", t.Name, t.Shape)
		}
		if n > math.MaxInt64/int64(t.DType.Size()) || int64(len(t.Data)) != n*int64(t.DType.Size()) {
			return nil, fmt.Errorf("tensor %q: %d bytes do not hold shape %v of %s", t.Name, len(t.Data), t.Shape, t.DType)
		}
		if len(meta) > 0 || i > 0 {
			buf.WriteByte(',')
		}
		writeString(t.Name)
		fmt.Fprintf(&buf, `:{"dtype":"%s","shape":[`, t.DType)
		for j, d := range t.Shape {
			if j > 0 {
				buf.WriteByte(',')
			}
			fmt.Fprint(&buf, d)
		}
		fmt.Fprintf(&buf, `],"data_offsets":[%d,%d]}`, off, off+int64(len(t.Data)))
		off += int64(len(t.Data))
	}
	buf.WriteByte('}')
	for buf.Len()%8 != 0 {
		buf.WriteByte(' ')
	}
	b := buf.Bytes()
	if len(b)-8 > maxHeaderLen {
		return nil, fmt.Errorf("header of %d bytes exceeds the limit of %d", len(b)-8, maxHeaderLen)
	}
	binary.LittleEndian.PutUint64(b, uint64(len(b)-8))
	return b, nil
}

// shapeElements is the product of shape, or false if a dimension is negative or the product
// overflows.
func shapeElements(shape []int) (int64, bool) {
	n := int64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, false
		}
		if d != 0 && n > math.MaxInt64/int64(d) {
			return 0, false
		}
		n *= int64(d)
	}
	return n, true
}

// FromFloat32 makes an F32 tensor holding a copy of v. len(v) should equal the product of shape;
// WriteSafetensors reports a mismatch.
func FromFloat32(name string, shape []int, v []float32) *Tensor {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return &Tensor{Name: name, DType: F32, Shape: slices.Clone(shape), Data: b}
}

// FromFloat64 makes an F64 tensor holding a copy of v, like FromFloat32.
func FromFloat64(name string, shape []int, v []float64) *Tensor {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(x))
	}
	return &Tensor{Name: name, DType: F64, Shape: slices.Clone(shape), Data: b}
}

// FromInt64 makes an I64 tensor holding a copy of v, like FromFloat32.
func FromInt64(name string, shape []int, v []int64) *Tensor {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(x))
	}
	return &Tensor{Name: name, DType: I64, Shape: slices.Clone(shape), Data: b}
}
