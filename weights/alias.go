package weights

import "unsafe"

// aliasF32 reinterprets little-endian F32 bytes in place when they are 4-byte aligned
// (amd64 and arm64 are little-endian, the only targets plp builds for).
func aliasF32(b []byte) ([]float32, bool) {
	if len(b) == 0 {
		return []float32{}, true
	}
	p := unsafe.Pointer(unsafe.SliceData(b))
	if uintptr(p)%4 != 0 {
		return nil, false
	}
	return unsafe.Slice((*float32)(p), len(b)/4), true
}
