package weights

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"math/bits"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxHeaderLen bounds the JSON header, as the reference safetensors library does, so that a forged
// length cannot make the reader allocate or scan an arbitrary amount.
const maxHeaderLen = 100_000_000

// metadataKey is the reserved header key holding the file's string metadata.
const metadataKey = "__metadata__"

// FormatError reports a malformed safetensors file. Tensor is empty when the problem is not tied to
// one tensor.
type FormatError struct {
	File   string
	Tensor string
	Reason string
}

func (e *FormatError) Error() string {
	if e.Tensor != "" {
		return fmt.Sprintf("safetensors %s: tensor %q: %s", e.File, e.Tensor, e.Reason)
	}
	return fmt.Sprintf("safetensors %s: %s", e.File, e.Reason)
}

// SafetensorsEntry describes one tensor of a safetensors file as its header states it.
type SafetensorsEntry struct {
	Name  string
	DType DType
	Shape []int
	// Begin and End are byte offsets into the data buffer, which starts right after the header.
	Begin, End int64
}

// Size is the tensor's size in bytes.
func (e SafetensorsEntry) Size() int64 { return e.End - e.Begin }

// Safetensors is an opened safetensors file. Its tensors' Data alias the file's bytes (memory-mapped
// where the platform allows), so they are valid only until Close. Methods other than Close may be
// called concurrently.
type Safetensors struct {
	name      string
	buf       []byte // the whole file
	unmap     func() error
	headerLen int
	entries   []SafetensorsEntry // by offset
	index     map[string]int     // name -> position in entries
	names     []string           // sorted
	meta      map[string]string
	closed    bool
}

var _ Store = (*Safetensors)(nil)

// ParseSafetensors parses a whole safetensors file held in b; name is used in error messages. The
// tensors alias b, which must not be modified while they are in use.
func ParseSafetensors(name string, b []byte) (*Safetensors, error) {
	p := &stParser{file: name}
	s, err := p.parse(b)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Name is the file name given to OpenSafetensors or ParseSafetensors.
func (s *Safetensors) Name() string { return s.name }

// Names lists the tensor names in sorted order.
func (s *Safetensors) Names() []string { return slices.Clone(s.names) }

// Entries lists the tensors in the order of their data in the file.
func (s *Safetensors) Entries() []SafetensorsEntry {
	out := make([]SafetensorsEntry, len(s.entries))
	for i, e := range s.entries {
		e.Shape = slices.Clone(e.Shape)
		out[i] = e
	}
	return out
}

// HeaderLen is the length of the JSON header in bytes; the data buffer starts at 8+HeaderLen.
func (s *Safetensors) HeaderLen() int { return s.headerLen }

// Metadata returns a copy of the header's __metadata__ map (empty, never nil, if there is none).
func (s *Safetensors) Metadata() map[string]string { return maps.Clone(s.meta) }

// Tensor returns the named tensor. Its Data aliases the file; its Shape is the caller's to keep.
func (s *Safetensors) Tensor(name string) (*Tensor, error) {
	if s.closed {
		return nil, fmt.Errorf("safetensors %s: tensor %q: file is closed", s.name, name)
	}
	i, ok := s.index[name]
	if !ok {
		return nil, fmt.Errorf("safetensors %s: no tensor %q", s.name, name)
	}
	e := s.entries[i]
	lo, hi := 8+int64(s.headerLen)+e.Begin, 8+int64(s.headerLen)+e.End
	return &Tensor{Name: e.Name, DType: e.DType, Shape: slices.Clone(e.Shape), Data: s.buf[lo:hi:hi]}, nil
}

// Close releases the file's memory. Tensors obtained earlier must not be used afterwards. Closing
// twice is a no-op.
func (s *Safetensors) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	s.buf = nil
	if s.unmap != nil {
		err := s.unmap()
		s.unmap = nil
		if err != nil {
			return fmt.Errorf("safetensors %s: unmap: %w", s.name, err)
		}
	}
	return nil
}

// stParser validates a safetensors file; every check returns a FormatError naming the file.
type stParser struct {
	file string
}

func (p *stParser) errorf(tensor, format string, args ...any) error {
	return &FormatError{File: p.file, Tensor: tensor, Reason: fmt.Sprintf(format, args...)}
}

func (p *stParser) parse(b []byte) (*Safetensors, error) {
	if len(b) < 8 {
		return nil, p.errorf("", "file is %d bytes, shorter than the 8-byte header length", len(b))
	}
	n := binary.LittleEndian.Uint64(b)
	if n > maxHeaderLen {
		return nil, p.errorf("", "header length %d exceeds the limit of %d bytes", n, maxHeaderLen)
	}
	if n > uint64(len(b)-8) {
		return nil, p.errorf("", "header length %d runs past the end of the %d-byte file", n, len(b))
	}
	hdr := b[8 : 8+n]
	// encoding/json silently replaces invalid UTF-8; the format requires valid UTF-8.
	if !utf8.Valid(hdr) {
		return nil, p.errorf("", "header is not valid UTF-8")
	}
	fields, err := p.object(hdr, "header")
	if err != nil {
		return nil, err
	}
	s := &Safetensors{name: p.file, buf: b, headerLen: int(n), meta: map[string]string{}, index: map[string]int{}}
	dataLen := int64(len(b)) - 8 - int64(n)
	for _, f := range fields {
		if f.key == metadataKey {
			if s.meta, err = p.metadata(f.val); err != nil {
				return nil, err
			}
			continue
		}
		e, err := p.entry(f.key, f.val, dataLen)
		if err != nil {
			return nil, err
		}
		s.entries = append(s.entries, e)
	}
	// The tensors must tile the data buffer exactly, in offset order; like the reference library we
	// reject gaps and trailing bytes, which could otherwise smuggle data past a validator.
	slices.SortStableFunc(s.entries, func(a, b SafetensorsEntry) int {
		return cmp.Or(cmp.Compare(a.Begin, b.Begin), cmp.Compare(a.End, b.End))
	})
	var end int64
	for i, e := range s.entries {
		switch {
		case e.Begin < end:
			return nil, p.errorf(e.Name, "data_offsets [%d, %d] overlap tensor %q at [%d, %d]",
				e.Begin, e.End, s.entries[i-1].Name, s.entries[i-1].Begin, s.entries[i-1].End)
		case e.Begin > end:
			return nil, p.errorf(e.Name, "data_offsets [%d, %d] leave bytes [%d, %d) of the data buffer unused",
				e.Begin, e.End, end, e.Begin)
		}
		end = e.End
		s.index[e.Name] = i
		s.names = append(s.names, e.Name)
	}
	if end != dataLen {
		return nil, p.errorf("", "tensors cover %d bytes but the data buffer has %d (trailing bytes)", end, dataLen)
	}
	slices.Sort(s.names)
	return s, nil
}

type jsonField struct {
	key string
	val json.RawMessage
}

// object decodes a JSON object into its fields in order, rejecting duplicate keys (which
// encoding/json would silently resolve to the last one) and anything after the object but
// whitespace.
func (p *stParser) object(b []byte, what string) ([]jsonField, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, p.errorf("", "%s is not valid JSON: %v", what, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, p.errorf("", "%s is not a JSON object", what)
	}
	var out []jsonField
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, p.errorf("", "%s is not valid JSON: %v", what, err)
		}
		key := tok.(string) // inside an object the decoder yields only string keys
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, p.errorf("", "%s is not valid JSON at key %q: %v", what, key, err)
		}
		if seen[key] {
			return nil, p.errorf("", "%s has duplicate key %q", what, key)
		}
		seen[key] = true
		out = append(out, jsonField{key, val})
	}
	if _, err := dec.Token(); err != nil {
		return nil, p.errorf("", "%s is not valid JSON: %v", what, err)
	}
	if len(bytes.Trim(b[dec.InputOffset():], " \t\r\n")) != 0 {
		return nil, p.errorf("", "%s has data after the JSON object", what)
	}
	return out, nil
}

func (p *stParser) metadata(raw json.RawMessage) (map[string]string, error) {
	if string(raw) == "null" { // the reference library treats a null __metadata__ as absent
		return map[string]string{}, nil
	}
	if len(raw) == 0 || raw[0] != '{' {
		return nil, p.errorf("", "%s is not a JSON object of strings", metadataKey)
	}
	fields, err := p.object(raw, metadataKey)
	if err != nil {
		return nil, err
	}
	m := make(map[string]string, len(fields))
	for _, f := range fields {
		var v string
		if len(f.val) == 0 || f.val[0] != '"' || json.Unmarshal(f.val, &v) != nil {
			return nil, p.errorf("", "%s value of key %q is not a string: %.40s", metadataKey, f.key, f.val)
		}
		m[f.key] = v
	}
	return m, nil
}

// entry parses and checks one tensor's header entry against the data buffer's length.
func (p *stParser) entry(name string, raw json.RawMessage, dataLen int64) (SafetensorsEntry, error) {
	e := SafetensorsEntry{Name: name}
	if len(raw) == 0 || raw[0] != '{' {
		return e, p.errorf(name, "header entry is not a JSON object")
	}
	fields, err := p.object(raw, fmt.Sprintf("entry of tensor %q", name))
	if err != nil {
		return e, err
	}
	var haveDType, haveShape, haveOffsets bool
	var offsets []int64
	for _, f := range fields {
		switch f.key { // case-sensitive, unlike encoding/json's struct matching
		case "dtype":
			var d string
			if len(f.val) == 0 || f.val[0] != '"' || json.Unmarshal(f.val, &d) != nil {
				return e, p.errorf(name, "dtype is not a string: %.40s", f.val)
			}
			e.DType, haveDType = DType(d), true
		case "shape":
			if e.Shape, err = p.ints(name, "shape", f.val); err != nil {
				return e, err
			}
			haveShape = true
		case "data_offsets":
			v, err := p.ints(name, "data_offsets", f.val)
			if err != nil {
				return e, err
			}
			if len(v) != 2 {
				return e, p.errorf(name, "data_offsets has %d numbers, want 2", len(v))
			}
			offsets, haveOffsets = []int64{int64(v[0]), int64(v[1])}, true
		}
		// Unknown keys are ignored, as the reference library does.
	}
	switch {
	case !haveDType:
		return e, p.errorf(name, "header entry lacks dtype")
	case !haveShape:
		return e, p.errorf(name, "header entry lacks shape")
	case !haveOffsets:
		return e, p.errorf(name, "header entry lacks data_offsets")
	}
	size := int64(e.DType.Size())
	if size == 0 {
		return e, p.errorf(name, "unsupported dtype %q", e.DType)
	}
	e.Begin, e.End = offsets[0], offsets[1]
	if e.Begin > e.End {
		return e, p.errorf(name, "data_offsets [%d, %d] begin after end", e.Begin, e.End)
	}
	if e.End > dataLen {
		return e, p.errorf(name, "data_offsets [%d, %d] run past the %d-byte data buffer", e.Begin, e.End, dataLen)
	}
	// Multiply in order with overflow checks, as the reference library does: a shape whose product
	// overflows is rejected even if a later dimension is 0.
	var nbytes uint64 = 1
	for _, d := range e.Shape {
		hi, lo := bits.Mul64(nbytes, uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			return e, p.errorf(name, "shape %v overflows the element count", e.Shape)
		}
		nbytes = lo
	}
	hi, lo := bits.Mul64(nbytes, uint64(size))
	if hi != 0 || lo > math.MaxInt64 {
		return e, p.errorf(name, "shape %v of %s overflows the byte size", e.Shape, e.DType)
	}
	if int64(lo) != e.End-e.Begin {
		return e, p.errorf(name, "shape %v of %s needs %d bytes but data_offsets [%d, %d] span %d",
			e.Shape, e.DType, lo, e.Begin, e.End, e.End-e.Begin)
	}
	return e, nil
}

// ints parses a JSON array of non-negative integer literals that fit in an int. encoding/json would
// also accept numbers in strings and fractions; the format allows neither.
func (p *stParser) ints(tensor, what string, raw json.RawMessage) ([]int, error) {
	var elems []json.RawMessage
	if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &elems) != nil {
		return nil, p.errorf(tensor, "%s is not an array of integers: %.40s", what, raw)
	}
	out := make([]int, len(elems))
	for i, el := range elems {
		lit := string(bytes.TrimSpace(el))
		if strings.HasPrefix(lit, "-") && strings.Trim(lit[1:], "0123456789") == "" {
			return nil, p.errorf(tensor, "%s value %s is negative", what, lit)
		}
		if lit == "" || strings.Trim(lit, "0123456789") != "" {
			return nil, p.errorf(tensor, "%s value %.40s is not a non-negative integer", what, lit)
		}
		v, err := strconv.ParseInt(lit, 10, 64)
		if err != nil {
			return nil, p.errorf(tensor, "%s value %.40s is too large", what, lit)
		}
		out[i] = int(v)
	}
	return out, nil
}

// mapFileFunc is mapFile, replaceable so that tests can exercise the read-into-memory fallback.
var mapFileFunc = mapFile

// OpenSafetensors opens and validates a safetensors file. The file is memory-mapped read-only where
// the platform allows (falling back to reading it into memory), so opening is cheap and tensors'
// Data alias the mapping. The file must not be truncated while it is open.
func OpenSafetensors(path string) (*Safetensors, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("safetensors %s: not a regular file", path)
	}
	size := fi.Size()
	if size < 8 { // also keeps an empty file away from mmap, which rejects length 0
		return nil, (&stParser{file: path}).errorf("", "file is %d bytes, shorter than the 8-byte header length", size)
	}
	if size > math.MaxInt {
		return nil, fmt.Errorf("safetensors %s: file of %d bytes is too large to map", path, size)
	}
	b, unmap, err := mapFileFunc(f, int(size))
	if err != nil {
		if b, err = io.ReadAll(io.LimitReader(f, size)); err != nil {
			return nil, fmt.Errorf("safetensors %s: %w", path, err)
		}
	}
	s, err := ParseSafetensors(path, b)
	if err != nil {
		if unmap != nil {
			unmap()
		}
		return nil, err
	}
	s.unmap = unmap
	return s, nil
}
