//go:build amd64

package jpeg

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestYCCRowH2VectorMatchesScalar compares the vector and scalar fused
// upsampling + colour conversion on random rows of every width up to 80,
// for both the 4:2:0 and the 4:2:2 rounding biases.
func TestYCCRowH2VectorMatchesScalar(t *testing.T) {
	if !useAVX2 {
		t.Skip("no AVX2")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for w := 5; w <= 80; w++ {
		n := (w + 1) / 2
		for _, b := range [][2]int32{{8, 7}, {4, 8}} {
			yr := make([]uint8, w)
			cbs, crs := make([]int32, n), make([]int32, n)
			for i := range yr {
				yr[i] = uint8(rng.IntN(256))
			}
			for i := range cbs {
				cbs[i], crs[i] = rng.Int32N(1021), rng.Int32N(1021) // 3a+b or 4a: 0..1020
			}
			got, want := make([]uint8, 3*w), make([]uint8, 3*w)
			yccRowH2(yr, cbs, crs, got, b[0], b[1])
			useAVX2 = false
			yccRowH2(yr, cbs, crs, want, b[0], b[1])
			useAVX2 = true
			if !bytes.Equal(got, want) {
				t.Fatalf("width %d biases %v: vector and scalar rows differ", w, b)
			}
		}
	}
}
