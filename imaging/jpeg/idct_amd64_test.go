//go:build amd64

package jpeg

import "testing"

// TestDecodeScalarIDCT reruns the Pillow comparison with the portable IDCT
// that non-AVX2 machines use.
func TestDecodeScalarIDCT(t *testing.T) {
	if !useAVX2 {
		t.Skip("the scalar IDCT is already the one in use")
	}
	useAVX2 = false
	defer func() { useAVX2 = true }()
	TestDecodeMatchesPillow(t)
}
